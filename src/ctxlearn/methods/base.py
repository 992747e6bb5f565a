"""The method registry and what every method provides."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from ctxlearn.errors import ConfigError
from ctxlearn.registry import Registry, did_you_mean


@dataclass(frozen=True)
class Method:
    """``prepare`` freezes or wraps a fresh ``EncoderClassifier`` in place of training it.

    ``fit`` says which training path runs it: "trainer" (gradient steps through the whole model)
    or "features" (frozen backbone: features computed once, the head fitted on them).
    ``lr`` and ``epochs`` are the defaults the method is tuned for; the user's flags override them.
    ``callbacks``, when set, builds the Trainer callbacks a method needs while it trains (AdaLoRA
    reallocates its ranks after every optimizer step) from the prepared model and the options.
    ``lr_scale``, when set, maps the prepared model and the options to a function from parameter name to
    a multiple of the learning rate, or to None when every parameter takes the plain rate (LoRA+ trains
    B faster than A; layer-wise decay trains lower layers slower).
    """

    name: str
    help: str
    options: type
    prepare: Callable[[nn.Module, Any], nn.Module]
    lr: float
    epochs: float
    fit: str = "trainer"
    callbacks: Callable[[nn.Module, Any], list] | None = None
    lr_scale: Callable[[nn.Module, Any], Callable[[str], float] | None] | None = None


METHODS: Registry[Method] = Registry("method")


def options_class(name: str, values: Any, where: str) -> type:
    """The options dataclass of a ``method_options`` entry: refuses a name that is no method, and values that
    are not a mapping, after ``where`` (a recipe's line, or ``method_options``)."""
    if name not in METHODS:
        raise ConfigError(f"{where}: {name!r} is not a method{did_you_mean(name, METHODS)}; methods are: "
                          f"{', '.join(METHODS.names())}")
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: {name} must be a mapping of option: value, not {values!r}")
    return METHODS.get(name).options


def freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total
