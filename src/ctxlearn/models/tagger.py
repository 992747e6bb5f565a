"""A token tagger: any encoder backbone, dropout and one linear layer over every token's state.

The twin of ``EncoderClassifier`` (same ``backbone``/``head`` attributes, so every method's
``prepare`` and the artifact code work on both) without the pooling: each position gets its own
logits. Only the first sub-word of each word carries a label; the rest are -100 and ignored.
"""
from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import TokenClassifierOutput

from ctxlearn.models.classifier import linear_head, token_states

IGNORE = -100  # label of the positions the loss skips: special tokens and every sub-word after a word's first


class EncoderTagger(nn.Module):
    accepts_loss_kwargs = False  # a mean over this batch's labelled tokens, as in EncoderClassifier

    def __init__(self, backbone: nn.Module, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.head = linear_head(backbone.config.hidden_size, num_labels)

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Token states (B, T, H)."""
        return token_states(self.backbone, input_ids, attention_mask, token_type_ids)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **_: object) -> TokenClassifierOutput:
        feats = self.features(input_ids, attention_mask, token_type_ids)
        with torch.autocast(feats.device.type, enabled=False):  # head and loss in fp32 under bf16 autocast
            logits = self.head(self.dropout(feats.float()))  # (B, T, C)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
        return TokenClassifierOutput(loss=loss, logits=logits)
