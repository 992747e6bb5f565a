"""Prompt tuning through peft: P trained input embeddings are prepended to every input (Lester et
al. 2021); the backbone is frozen, the head is trained. ``EncoderClassifier.features`` feeds the
prompt and pools over the real tokens only (see ``prompted_hidden`` there)."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ctxlearn.config import check_at_least, opt
from ctxlearn.errors import ConfigError
from ctxlearn.methods.base import METHODS, Method
from ctxlearn.methods.prompt_learning import wrap_prompt_learning


@dataclass
class PromptOptions:
    virtual_tokens: int = opt(20, "prompt length P (virtual tokens prepended to the input; they count against max positions, "
                                   "except on scratch models, where they sit at position 0)")
    init: str = opt("sample_vocab", "how the prompt starts: sample_vocab (embeddings of random vocabulary tokens) or random")

    def __post_init__(self) -> None:
        if self.init not in {"sample_vocab", "random"}:
            raise ConfigError(f"init must be sample_vocab or random, not {self.init!r}", field="init")
        check_at_least(self, {"virtual_tokens": 1})


def prepare(model: nn.Module, options: PromptOptions) -> nn.Module:
    from peft import PromptTuningConfig, TaskType

    config = PromptTuningConfig(task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=options.virtual_tokens,
                                prompt_tuning_init=options.init.upper())
    return wrap_prompt_learning(model, config)


# Defaults: Lester et al. (2021) use 20-100 tokens initialised from vocabulary embeddings (better than
# random) and a very high rate (0.3 with Adafactor); peft's sequence-classification example uses AdamW
# at 1e-3 with 10 tokens for 20 epochs. With AdamW on small encoders we take 20 tokens, 1e-2 (peft's
# prefix example's rate) and 10 epochs.
METHODS.register("prompt")(Method(
    name="prompt", help="peft prompt tuning: trained input embeddings prepended, frozen backbone, plus the head",
    options=PromptOptions, prepare=prepare, lr=1e-2, epochs=10, positions=lambda options: options.virtual_tokens))
