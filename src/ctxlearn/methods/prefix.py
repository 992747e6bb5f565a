"""Prefix tuning through peft: P trained key/value vectors are prepended in every attention layer
(Li & Liang 2021; P-tuning v2 for encoders); the backbone is frozen, the head is trained.
``EncoderClassifier.features`` feeds the prefix (see ``prompted_hidden`` there)."""
from __future__ import annotations

from dataclasses import dataclass

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
    return wrap_prompt_learning(model, config)


# Defaults: peft's prefix-tuning sequence-classification example (roberta-large, MRPC): 20 virtual
# tokens, no reparametrisation, lr 1e-2, 20 epochs; prompt methods converge slowly, so 10 epochs here.
# Its keys and values come before the input's: BERT numbers the input's positions after them.
METHODS.register("prefix")(Method(
    name="prefix", help="peft prefix tuning: trained keys/values prepended in every layer, frozen backbone, plus the head",
    options=PrefixOptions, prepare=prepare, lr=1e-2, epochs=10, positions=lambda options: options.virtual_tokens))
