"""What differs between the transformers releases ctxlearn runs on."""
from __future__ import annotations

import inspect

from torch import nn


def cache_kwarg(model: nn.Module) -> str:
    """The name ``model.forward`` takes a key/value cache under: transformers renamed ``past_key_values``
    to ``cache`` during 5.x, and the old name warns of its removal on every call."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
