"""Prefix tuning through peft: P trained key/value vectors are prepended in every attention layer
(Li & Liang 2021; P-tuning v2 for encoders); the backbone is frozen, the head is trained.
``EncoderClassifier.features`` feeds the prefix (see ``prompted_hidden`` there)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ctxlearn.config import check_at_least, opt
from ctxlearn.methods.base import METHODS, Method
from ctxlearn.methods.prompt_learning import wrap_prompt_learning


@dataclass
class PrefixOptions:
    virtual_tokens: int = opt(20, "prefix length P (key/value vectors per layer)")
    projection: int = opt(0, "hidden size of an MLP that reparametrises the prefix (Li & Liang); 0 = train it directly")

    def __post_init__(self) -> None:
        check_at_least(self, {"virtual_tokens": 1, "projection": 0})


def prepare(model: nn.Module, options: PrefixOptions) -> nn.Module:
    from peft import PrefixTuningConfig, TaskType

    config = PrefixTuningConfig(task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=options.virtual_tokens,
                                prefix_projection=options.projection > 0, encoder_hidden_size=options.projection or None)
    model = wrap_prompt_learning(model, config)
    for encoder in model.backbone.prompt_encoder.values():
        encoder.forward = _in_fp32(encoder.forward)
    return model


def _in_fp32(forward: Any) -> Any:
    """``forward`` of a prefix encoder, run once, outside bf16 autocast, and repeated down the batch. peft saves
    the prefix its MLP (--prefix-projection) gives for one row in fp32, and a reloaded run reads that: computed
    in bf16 while training and scoring, or for a whole batch (whose matmul rounds otherwise), the run's test
    predictions differed from its reload's by up to 7e-4."""
    def fp32_forward(prefix: torch.Tensor) -> torch.Tensor:
        with torch.autocast(prefix.device.type, enabled=False):
            one = forward(prefix[:1])  # every row holds the same P virtual-token ids
        return one.expand(len(prefix), *one.shape[1:])

    return fp32_forward


# Defaults: peft's prefix-tuning sequence-classification example (roberta-large, MRPC): 20 virtual
# tokens, no reparametrisation, lr 1e-2, 20 epochs; prompt methods converge slowly, so 10 epochs here.
# Its keys and values come before the input's: BERT numbers the input's positions after them.
METHODS.register("prefix")(Method(
    name="prefix", help="peft prefix tuning: trained keys/values prepended in every layer, frozen backbone, plus the head",
    options=PrefixOptions, prepare=prepare, lr=1e-2, epochs=10, positions=lambda options: options.virtual_tokens))
