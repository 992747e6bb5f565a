"""Attention for training on CPU: the arithmetic of SDPA's math path, with the fast dropout mask.

Why hand-written: with dropout on, torch's ``scaled_dot_product_attention`` on CPU takes its math
path, which draws the attention-probability mask with ``bernoulli_`` (one 32-bit Mersenne Twister
number per element) and guards its softmax against rows with every key masked (``isneginf``, ``all``,
``where``). Profiled on a MiniLM step (batch 32 x 25 tokens), the two cost about 5% of the step. A
padding mask leaves every query row the real keys of its text, so the guard has nothing to do.
Without dropout, SDPA takes its fused CPU kernel, whose backward is slow in bf16: forward and
backward of (32, 12, 25, 32) took 14.2 ms against 3.3 here (T = 64: 30.8 against 9.2), so bf16
training takes this path with dropout 0 too, up to 512 queries; a MiniLM step with every dropout at 0
ran 4,034 useful tokens/s against 2,755 through SDPA. Longer, the fused kernel catches up (B 4 x 512:
57.9 ms against 58.0) and then wins (B 2 x 1024: 79.8 against 169.0), and in fp32 it is the faster
(3.2 ms against 6.4 at T = 25). Everything else (evaluation, fp32 or long training without dropout,
GPUs, causal or grouped-query attention, position biases) goes to transformers' own SDPA function
unchanged.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from ctxlearn.models.dropout import fast_dropout

NAME = "ctxlearn_cpu_sdpa"
FUSED_FROM = 512  # queries from which SDPA's fused kernel trains bf16 without dropout as fast as this path


def cpu_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                  attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                  is_causal: bool | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """(B, H, T, D) queries, keys and values -> ((B, T, H, D) outputs, None), as ``sdpa_attention_forward``."""
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    half_backward = (query.dtype in (torch.bfloat16, torch.float16) and query.shape[2] <= FUSED_FROM
                     and torch.is_grad_enabled() and (query.requires_grad or key.requires_grad or value.requires_grad))
    plain = (not (dropout > 0.0 or half_backward) or query.device.type != "cpu" or key.shape[1] != query.shape[1]
             or kwargs.get("position_bias") is not None or (attention_mask is None and causal and query.shape[2] > 1))
    if plain:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scale  # (B, H, T, S)
    if attention_mask is not None:  # sdpa_mask: True where a query may attend; eager masks are additive
        scores = (scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min) if attention_mask.dtype == torch.bool
                  else scores + attention_mask)
    probs = torch.softmax(scores, dim=-1)
    probs = (fast_dropout(probs, dropout) if dropout > 0.0 else probs).to(value.dtype)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), None  # (B, T, H, D)


AttentionInterface.register(NAME, cpu_attention)
AttentionMaskInterface.register(NAME, sdpa_mask)  # the same padding masks SDPA gets


def use_cpu_attention(backbone: nn.Module) -> bool:
    """Point a transformers backbone that runs SDPA at ``cpu_attention``; True if it was switched.
    The choice is not saved with the model: its config.json keeps no attention implementation."""
    config = getattr(backbone, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa" or not hasattr(backbone, "set_attn_implementation"):
        return False
    backbone.set_attn_implementation(NAME)
    return True
