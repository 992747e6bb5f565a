"""What prefix and prompt tuning share: wrapping the backbone in peft's prompt-learning model.

The forward pass through it lives in ``ctxlearn.models.classifier.prompted_hidden``."""
from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from peft import PromptLearningConfig


def wrap_prompt_learning(model: nn.Module, config: PromptLearningConfig) -> nn.Module:
    """Wrap ``model.backbone`` in a peft prompt-learning model (prefix or prompt tuning).

    peft registers the input embeddings a second time, as ``word_embeddings`` beside the base model's
    own, and the Trainer writes checkpoints of our classifier (not a ``PreTrainedModel``) with
    safetensors, which refuses a tensor stored under two names: the hook stores a copy instead.
    """
    from peft import get_peft_model

    model.backbone = get_peft_model(model.backbone, config)
    model.backbone.register_state_dict_post_hook(_copy_alias)
    return model


def _copy_alias(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    key = prefix + "word_embeddings.weight"
    if key in state_dict:
        state_dict[key] = state_dict[key].clone()
