"""Scratch model outputs name their cache as the installed transformers does."""
from __future__ import annotations

import dataclasses

import pytest
from transformers.modeling_outputs import BaseModelOutputWithPast

from ctxlearn.scratch.hf import cache_of, output


@dataclasses.dataclass
class OldOutput:  # how transformers 5.17 declares its outputs: the cache is `past_key_values`
    last_hidden_state: object = None
    past_key_values: object = None


@pytest.mark.parametrize("cls", [OldOutput, BaseModelOutputWithPast])
def test_the_cache_lands_in_whichever_field_the_class_has(cls: type) -> None:
    marker = object()
    out = output(cls, last_hidden_state=1, cache=marker)
    assert cache_of(out) is marker and out.last_hidden_state == 1
