"""Top-k fine-tuning: only the last k Transformer layers and the head are trained."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ctxlearn.config import check_at_least, opt
from ctxlearn.errors import ConfigError
from ctxlearn.methods.base import METHODS, Method, freeze


@dataclass
class TopkOptions:
    k: int = opt(2, "number of top Transformer layers to train")

    def __post_init__(self) -> None:  # here, before the data and model load; the upper bound is the backbone's
        check_at_least(self, {"k": 1})


def encoder_layers(backbone: nn.Module) -> nn.ModuleList:
    """The stack of Transformer blocks of a transformers backbone (BERT-style or decoder-style)."""
    for path in ("encoder.layer", "layers", "transformer.layer", "h"):
        obj = backbone
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ConfigError(f"topk: cannot find the layer stack of {type(backbone).__name__}")


def prepare(model: nn.Module, options: TopkOptions) -> nn.Module:
    layers = encoder_layers(model.backbone)
    if options.k > len(layers):
        raise ConfigError(f"--topk-k (method_options topk: k) must be at most {len(layers)}, the backbone's layers, "
                          f"not {options.k}")
    freeze(model.backbone)
    for layer in layers[-options.k:]:
        for p in layer.parameters():
            p.requires_grad_(True)
    return model


METHODS.register("topk")(Method(
    name="topk", help="train the top k layers and the head", options=TopkOptions,
    prepare=prepare, lr=1e-4, epochs=4))
