"""Bottleneck adapters (Houlsby et al. 2019): after the attention output projection and after the
feed-forward output projection of every layer, a small residual MLP x + up(gelu(down(x))) that starts
near the identity. The backbone is frozen; adapters, all LayerNorms and the head are trained.

Written here because no maintained implementation fits: the `adapters` package (AdapterHub) 1.3.0
requires transformers ~=4.57 and would downgrade our transformers 5.x, and peft has no bottleneck
adapter. Each adapter is a child module of the projection it follows and runs as a forward hook on
it, so the backbone's own weight names are unchanged; ``save_adapters``/``load_adapters`` store and
restore just the trained tensors (the artifact's ``bottleneck/`` folder).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ctxlearn.config import check_at_least, opt
from ctxlearn.errors import ConfigError, ModelError
from ctxlearn.methods.base import METHODS, Method, check_regex, freeze

WEIGHTS, CONFIG = "adapters.safetensors", "config.json"


@dataclass
class AdapterOptions:
    size: int = opt(64, "bottleneck width m of each adapter")
    targets: str = opt(r".*\.layer\.\d+\.(attention\.output|output)\.dense",
                       "regex of the projections an adapter follows (BERT names: attention output, feed-forward output)")

    def __post_init__(self) -> None:
        check_regex(self, "targets")
        check_at_least(self, {"size": 1})


class Bottleneck(nn.Module):
    """(..., H) -> (..., H): x + up(gelu(down(x))), near the identity at the start."""

    def __init__(self, hidden: int, size: int, init_scale: float = 1e-3) -> None:
        super().__init__()
        self.down, self.up = nn.Linear(hidden, size), nn.Linear(size, hidden)
        for linear in (self.down, self.up):  # Houlsby's reference code: truncated normal, std 1e-3; zero biases
            nn.init.trunc_normal_(linear.weight, std=init_scale, a=-2 * init_scale, b=2 * init_scale)
            nn.init.zeros_(linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(nn.functional.gelu(self.down(x)))


def _run_adapter(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    return module.adapter(output)


def matching_linears(backbone: nn.Module, targets: str) -> list[str]:
    """Names of the linear layers whose full name matches the regex ``targets``."""
    names = [n for n, m in backbone.named_modules() if isinstance(m, nn.Linear) and re.fullmatch(targets, n)]
    if not names:
        example = next(n for n, m in backbone.named_modules() if isinstance(m, nn.Linear))
        raise ConfigError(f"adapter: no linear layer of {type(backbone).__name__} matches targets {targets!r}; "
                          f"pass --adapter-targets with a regex over names like {example!r}")
    return names


def add_adapters(backbone: nn.Module, size: int, names: list[str]) -> None:
    """Attach an adapter after each named linear layer.

    Houlsby's code applies it after the sub-layer's dropout; right after the projection is the same at
    inference and needs no hook on a dropout module that others may swap out."""
    for name in names:
        linear = backbone.get_submodule(name)
        linear.adapter = Bottleneck(linear.out_features, size).to(linear.weight.device)
        linear.register_forward_hook(_run_adapter)


def prepare(model: nn.Module, options: AdapterOptions) -> nn.Module:
    freeze(model.backbone)
    add_adapters(model.backbone, options.size, matching_linears(model.backbone, options.targets))
    for m in model.backbone.modules():  # Houlsby et al. train the LayerNorms alongside the adapters
        if isinstance(m, (Bottleneck, nn.LayerNorm)):
            m.requires_grad_(True)
    return model


def adapted(backbone: nn.Module) -> dict[str, Bottleneck]:
    """{name of the adapted linear layer: its adapter}; empty when the method is not ``adapter``."""
    return {n: m.adapter for n, m in backbone.named_modules() if isinstance(getattr(m, "adapter", None), Bottleneck)}


def _trained_state(backbone: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{name}.{k}": v for name, m in backbone.named_modules() if isinstance(m, (Bottleneck, nn.LayerNorm))
            for k, v in m.state_dict().items()}


def save_adapters(backbone: nn.Module, folder: Path) -> None:
    """Write the adapters and LayerNorms (the only backbone tensors the method changes) and where they sit."""
    adapters = adapted(backbone)
    folder.mkdir(parents=True)
    size = next(iter(adapters.values())).down.out_features
    (folder / CONFIG).write_text(json.dumps({"size": size, "modules": list(adapters)}, indent=1))
    save_file({k: v.detach().contiguous().cpu() for k, v in _trained_state(backbone).items()}, str(folder / WEIGHTS))


def load_adapters(backbone: nn.Module, folder: Path) -> nn.Module:
    """Rebuild the adapters written by ``save_adapters`` on a fresh copy of the base backbone."""
    config = json.loads((folder / CONFIG).read_text())
    add_adapters(backbone, config["size"], config["modules"])
    state, expected = load_file(str(folder / WEIGHTS)), _trained_state(backbone)
    if set(state) != set(expected):
        raise ModelError(f"{folder / WEIGHTS}: tensors do not match the adapters listed in {folder / CONFIG} (missing "
                         f"{sorted(set(expected) - set(state))[:3]}, unexpected {sorted(set(state) - set(expected))[:3]})")
    backbone.load_state_dict(state, strict=False)
    return backbone


# Defaults: Houlsby et al.'s reference code (google-research/adapter-bert): bottleneck 64, GELU, init
# std 1e-3; its README trains BERT-base adapters at lr 3e-4 for 5 epochs, and the paper sweeps
# {3e-5, 3e-4, 3e-3}. A 6-layer encoder in a few epochs wants the upper half of that sweep (lora.py
# found the same on MiniLM/SST-2), so 1e-3 for 5 epochs. Measured on SST-2, seed 0: best dev 87.6,
# test 87.4 (full fine-tuning: 89.5); 8 epochs stopped early after 7 with best dev 87.7 and the same
# test 87.4, so 5 stays. Starting the head from a linear probe (--head-init probe) collapsed: best dev
# 80.3, test 81.4.
METHODS.register("adapter")(Method(
    name="adapter", help="bottleneck adapters after attention and feed-forward (Houlsby), LayerNorms and the head",
    options=AdapterOptions, prepare=prepare, lr=1e-3, epochs=5))
