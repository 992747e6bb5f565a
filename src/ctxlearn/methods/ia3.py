"""(IA)^3 through peft: learned vectors rescale the attention keys and values and the feed-forward
activations of every layer (Liu et al. 2022); the head is trained too."""
from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from ctxlearn.config import opt
from ctxlearn.errors import ConfigError
from ctxlearn.methods.base import METHODS, Method, check_regex, peft_model


@dataclass
class IA3Options:
    # Regular expressions over module names (peft matches them in full). "output.dense" alone would
    # also match the attention output projection, which the paper leaves alone.
    targets: str = opt(r".*\.(self\.key|self\.value|layer\.\d+\.output\.dense)",
                       "regex of the modules to rescale (BERT names: keys, values, feed-forward output)")
    feedforward: str = opt(r".*\.layer\.\d+\.output\.dense",
                           "regex of the targets whose input (the feed-forward activations) is rescaled, not their output")

    def __post_init__(self) -> None:
        check_regex(self, "targets")
        check_regex(self, "feedforward")


def prepare(model: nn.Module, options: IA3Options) -> nn.Module:
    from peft import IA3Config

    check_feedforward(model.backbone, options)
    # Scaling the input of the feed-forward output projection is l_ff * gelu(W1 x), the paper's l_ff.
    config = IA3Config(target_modules=options.targets, feedforward_modules=options.feedforward)
    model.backbone = peft_model(model.backbone, config, "--ia3-targets")
    return model


def check_feedforward(backbone: nn.Module, options: IA3Options) -> None:
    """Refuse feed-forward modules that are no targets: peft rescales targets only, so naming another (the
    attention output projection) changed nothing, trainable parameters included."""
    names = [n for n, _ in backbone.named_modules()]
    if not any(re.fullmatch(options.targets, n) for n in names):
        return  # peft_model refuses those targets, naming the layers they could match
    outside = [n for n in names if re.fullmatch(options.feedforward, n) and not re.fullmatch(options.targets, n)]
    if outside:
        raise ConfigError(f"--ia3-feedforward {options.feedforward}: matches {outside[0]}"
                          f"{f' and {len(outside) - 1} more' if len(outside) > 1 else ''}, which --ia3-targets does "
                          "not, and only targets are rescaled; add them to --ia3-targets, or narrow --ia3-feedforward")


# Defaults: T-Few (Liu et al. 2022) trains (IA)^3 at lr 3e-3; its vectors start at 1 and must move far
# with very few weights, so it gets more epochs than lora here (peft's IA3 example runs 20 epochs).
# Learning rate chosen on SST-2 dev with MiniLM-L6, seed 0 (best dev / test; early stopping ended the runs
# after 4 to 7 epochs): 3e-3 84.8 / 86.7; 1e-2 85.7 / 87.2; 3e-2 83.5 / 85.6. The head started from a
# linear probe (--head-init probe) at 3e-3: 84.9 / 86.5. Full fine-tuning: 89.5.
METHODS.register("ia3")(Method(
    name="ia3", help="peft (IA)^3: rescale keys, values and feed-forward activations plus the head (a vector a layer)",
    options=IA3Options, prepare=prepare, lr=1e-2, epochs=10))
