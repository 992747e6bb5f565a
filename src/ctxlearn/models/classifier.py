"""A sequence classifier: any encoder backbone, a pooling rule, dropout and one linear layer.

transformers' ``*ForSequenceClassification`` always pools the first token; sentence encoders such
as MiniLM-L6 were trained with mean pooling, and pooling the way a backbone was trained is what
makes a frozen backbone useful. This keeps the backbone a plain ``AutoModel`` so peft and
``save_pretrained`` work on it unchanged.
"""
from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from ctxlearn.models.compat import cache_kwarg
from ctxlearn.models.registry import SCRATCH_TYPE


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """(B, T, H), (B, T) -> (B, H)."""
    if how == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def prompted_hidden(peft_model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Hidden states (B, T, H) of the real tokens of a peft prefix- or prompt-tuned encoder.

    peft's forward for a bare encoder (``PeftModelForFeatureExtraction``) drops ``token_type_ids``,
    which pair tasks need. This does what its sequence-classification forward does instead: the P
    virtual tokens get attention-mask 1 and token type 0, and prompt tuning's outputs at the virtual
    positions are cut off, so pooling sees the same T positions as ``attention_mask``.

    Positions: a scratch encoder puts prefix tuning's virtual keys at 0 and its real tokens at 0 .. T-1
    (see ``Stack.positions``); its prompt-tuning virtual tokens get position 0 too, so real tokens keep
    the positions they were pretrained at. Other backbones keep peft's numbering, virtual tokens
    first, which their saved runs were trained with.
    """
    config, base = peft_model.active_peft_config, peft_model.get_base_model()
    batch, n_virtual = input_ids.shape[0], config.num_virtual_tokens
    mask = torch.cat([attention_mask.new_ones(batch, n_virtual), attention_mask], 1)  # (B, P+T)
    if config.peft_type == "PREFIX_TUNING":  # virtual keys/values in every layer, outputs for real tokens only
        return base(input_ids=input_ids, attention_mask=mask, token_type_ids=token_type_ids,
                    **{cache_kwarg(base): peft_model.get_prompt(batch)}).last_hidden_state
    embeds = peft_model.word_embeddings(input_ids)  # (B, T, H)
    embeds = torch.cat([peft_model.get_prompt(batch).to(embeds.dtype), embeds], 1)  # (B, P+T, H)
    if token_type_ids is not None:
        token_type_ids = torch.cat([token_type_ids.new_zeros(batch, n_virtual), token_type_ids], 1)
    positions = {}
    if getattr(base.config, "model_type", None) == SCRATCH_TYPE:
        real = torch.arange(input_ids.shape[1], device=input_ids.device)
        positions["position_ids"] = torch.cat([real.new_zeros(n_virtual), real]).expand(batch, -1)  # (B, P+T)
    hidden = base(inputs_embeds=embeds, attention_mask=mask, token_type_ids=token_type_ids, **positions).last_hidden_state
    return hidden[:, n_virtual:]  # (B, T, H)


def token_states(backbone: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Last hidden states (B, T, H) of the real tokens, for plain, peft-wrapped and prompt-learning backbones."""
    if getattr(getattr(backbone, "active_peft_config", None), "is_prompt_learning", False):
        return prompted_hidden(backbone, input_ids, attention_mask, token_type_ids)
    kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
    return backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state


def linear_head(hidden: int, num_labels: int) -> nn.Linear:
    """(..., H) -> (..., C), initialised as BERT initialises its heads: normal weights (std 0.02), zero bias."""
    head = nn.Linear(hidden, num_labels)
    nn.init.normal_(head.weight, std=0.02)
    nn.init.zeros_(head.bias)
    return head


class EncoderClassifier(nn.Module):
    # The loss is a mean over this batch, and forward takes no ``num_items_in_batch``: without this the
    # Trainer infers from ``**_`` that it does, and scales the loss by the number of processes.
    accepts_loss_kwargs = False

    def __init__(self, backbone: nn.Module, num_labels: int, pooling: str = "mean", dropout: float = 0.1) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.head = linear_head(backbone.config.hidden_size, num_labels)

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled sentence vectors (B, H)."""
        return pool(token_states(self.backbone, input_ids, attention_mask, token_type_ids), attention_mask, self.pooling)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **_: object) -> SequenceClassifierOutput:
        feats = self.features(input_ids, attention_mask, token_type_ids)
        with torch.autocast(feats.device.type, enabled=False):  # the head in fp32: a probe-fitted head's
            logits = self.head(self.dropout(feats.float()))  # (B, C) large weights lose bits in bf16
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)
