"""ctxlearn.registry: the name -> object registries methods, models and tasks are looked up in."""
from __future__ import annotations

import pytest

from ctxlearn.errors import ConfigError
from ctxlearn.registry import Registry, did_you_mean

METHODS = ["full", "head", "topk", "lora", "adalora", "ia3", "adapter", "prefix", "prompt"]


@pytest.mark.parametrize("typed, meant", [("LoRA", "lora"), ("lorra", "lora"), ("IA3", "ia3"), ("adpter", "adapter"),
                                          ("top-k", "topk")])
def test_a_mistyped_name_gets_the_choice_it_was_likely_meant_as(typed: str, meant: str) -> None:
    assert did_you_mean(typed, METHODS) == f" (did you mean {meant!r}?)"


@pytest.mark.parametrize("typed", ["bitfit", "xyz", "prefixtuning"])
def test_a_name_near_no_choice_gets_no_guess(typed: str) -> None:
    assert did_you_mean(typed, METHODS) == ""


def test_an_unknown_name_is_refused_with_a_guess_and_every_choice() -> None:
    """`--method LoRA` was refused with the list alone, which a reader had to scan for the lower-case name."""
    registry: Registry[int] = Registry("method")
    for number, name in enumerate(METHODS):
        registry.register(name)(number)
    with pytest.raises(ConfigError) as refused:
        registry.get("LoRA", field="--method")
    assert str(refused.value) == f"unknown method 'LoRA' (did you mean 'lora'?); choose one of: {', '.join(METHODS)}"
    assert refused.value.field == "--method" and registry.get("lora") == 3


def test_a_name_is_registered_once() -> None:
    registry: Registry[int] = Registry("task")
    registry.register("classification")(1)
    with pytest.raises(ValueError, match="task 'classification' is already registered"):
        registry.register("classification")(2)
