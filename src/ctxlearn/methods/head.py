"""Head-only: the backbone stays frozen; its pooled features are computed once and a linear head is
fitted on them (no gradient ever flows through the backbone, so nothing is recomputed per epoch)."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ctxlearn.config import opt
from ctxlearn.errors import ConfigError
from ctxlearn.methods.base import METHODS, Method, freeze


@dataclass
class HeadOptions:
    c_grid: str = opt("0.01,0.1,1,10,100", "inverse L2 strengths tried for the logistic-regression head; best on dev wins")


def c_values(options: HeadOptions) -> list[float]:
    """The C values ``c_grid`` names."""
    try:
        return [float(c) for c in options.c_grid.split(",")]
    except ValueError:
        raise ConfigError(f"--head-c-grid {options.c_grid!r}: give comma-separated numbers, e.g. 0.1,1,10") from None


def prepare(model: nn.Module, options: HeadOptions) -> nn.Module:
    freeze(model.backbone)
    return model


METHODS.register("head")(Method(
    name="head", help="frozen backbone, linear head fitted on cached features (fastest)", options=HeadOptions,
    prepare=prepare, lr=0.0, epochs=0, fit="features"))
