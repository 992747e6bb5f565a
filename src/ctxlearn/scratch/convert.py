"""Load BERT and GPT-2 weights into scratch models: the parity tests' way of showing that model.py
computes what the reference implementations compute, and a way to start from their weights.

Each converter maps the transformers config onto a :class:`ScratchConfig` and renames the state
dict with a table of regular expressions; weights nothing maps to (BERT's pooler) are dropped, and
``load_state_dict(strict=True)`` proves every scratch weight was filled.
"""
from __future__ import annotations

import re
from typing import Any

import torch

from ctxlearn.errors import ModelError
from ctxlearn.scratch.hf import ScratchForCausalLM, ScratchModel
from ctxlearn.scratch.model import ScratchConfig

BERT_NAMES = [  # BertModel -> ScratchModel (arch encoder, post-LN)
    (r"^embeddings\.word_embeddings\.", "encoder.embed.tokens."),
    (r"^embeddings\.position_embeddings\.", "encoder.embed.positions."),
    (r"^embeddings\.token_type_embeddings\.", "encoder.embed.types."),
    (r"^embeddings\.LayerNorm\.", "encoder.embed.norm."),
    (r"^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.", r"encoder.layers.\1.attn.\2."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"encoder.layers.\1.attn.out."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"encoder.layers.\1.norm1."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"encoder.layers.\1.mlp.up."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"encoder.layers.\1.mlp.down."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"encoder.layers.\1.norm2."),
]

GPT2_NAMES = [  # GPT2LMHeadModel -> ScratchForCausalLM (arch decoder, pre-LN); c_attn is split apart first
    (r"^transformer\.wte\.", "model.decoder.embed.tokens."),
    (r"^transformer\.wpe\.", "model.decoder.embed.positions."),
    (r"^transformer\.h\.(\d+)\.ln_1\.", r"model.decoder.layers.\1.norm1."),
    (r"^transformer\.h\.(\d+)\.attn\.(query|key|value)\.", r"model.decoder.layers.\1.attn.\2."),
    (r"^transformer\.h\.(\d+)\.attn\.c_proj\.", r"model.decoder.layers.\1.attn.out."),
    (r"^transformer\.h\.(\d+)\.ln_2\.", r"model.decoder.layers.\1.norm2."),
    (r"^transformer\.h\.(\d+)\.mlp\.c_fc\.", r"model.decoder.layers.\1.mlp.up."),
    (r"^transformer\.h\.(\d+)\.mlp\.c_proj\.", r"model.decoder.layers.\1.mlp.down."),
    (r"^transformer\.ln_f\.", "model.decoder.norm."),
    (r"^lm_head\.", "lm_head."),
]
GPT2_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}


def rename(state: dict[str, torch.Tensor], rules: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Keys renamed by the first rule that matches; keys no rule matches are left out."""
    out = {}
    for key, value in state.items():
        for pattern, target in rules:
            if re.search(pattern, key):
                out[re.sub(pattern, target, key)] = value
                break
    return out


def bert_config(cfg: Any) -> ScratchConfig:
    """A transformers BertConfig as a scratch encoder: post-LN, learned positions, token types."""
    if getattr(cfg, "position_embedding_type", "absolute") != "absolute":
        raise ModelError(f"only absolute BERT positions convert, not {cfg.position_embedding_type!r}")
    return ScratchConfig(arch="encoder", vocab_size=cfg.vocab_size, d_model=cfg.hidden_size, n_layer=cfg.num_hidden_layers,
                         n_head=cfg.num_attention_heads, d_ff=cfg.intermediate_size, max_len=cfg.max_position_embeddings,
                         positions="learned", norm="post", activation=cfg.hidden_act, norm_eps=cfg.layer_norm_eps,
                         dropout=cfg.hidden_dropout_prob, attn_dropout=cfg.attention_probs_dropout_prob,
                         type_vocab_size=cfg.type_vocab_size, pooling="cls", pad_token_id=cfg.pad_token_id)


def from_bert(bert: Any) -> ScratchModel:
    """A ScratchModel computing what ``bert`` (a transformers BertModel) computes."""
    model = ScratchModel(bert_config(bert.config))
    model.load_state_dict(rename(bert.state_dict(), BERT_NAMES), strict=True)
    return model


def gpt2_config(cfg: Any) -> ScratchConfig:
    """A transformers GPT2Config as a scratch decoder: pre-LN, learned positions, tied output."""
    return ScratchConfig(arch="decoder", vocab_size=cfg.vocab_size, d_model=cfg.n_embd, n_layer=cfg.n_layer,
                         n_head=cfg.n_head, d_ff=cfg.n_inner or 4 * cfg.n_embd, max_len=cfg.n_positions,
                         positions="learned", norm="pre", activation=GPT2_ACTIVATIONS[cfg.activation_function],
                         norm_eps=cfg.layer_norm_epsilon, dropout=cfg.resid_pdrop, attn_dropout=cfg.attn_pdrop,
                         tie_word_embeddings=cfg.tie_word_embeddings, bos_token_id=cfg.bos_token_id,
                         eos_token_id=cfg.eos_token_id)


def _gpt2_linear(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """GPT-2 stores its projections as Conv1D, weight (in, out): transpose to nn.Linear's (out, in), and
    split the fused query/key/value projection c_attn (C, 3C) into three."""
    out = {}
    for key, value in state.items():
        if key.endswith(".weight") and value.dim() == 2 and ".h." in key:
            value = value.t()
        if ".attn.c_attn." in key:
            for name, part in zip(("query", "key", "value"), value.chunk(3, dim=0)):
                out[key.replace("c_attn", name)] = part
        else:
            out[key] = value
    return out


def from_gpt2(gpt2: Any) -> ScratchForCausalLM:
    """A ScratchForCausalLM computing what ``gpt2`` (a transformers GPT2LMHeadModel) computes."""
    cfg = gpt2.config
    if cfg.scale_attn_by_inverse_layer_idx or cfg.reorder_and_upcast_attn or not cfg.scale_attn_weights:
        raise ModelError("only GPT-2 configs with the standard 1/sqrt(head size) attention scaling convert")
    model = ScratchForCausalLM(gpt2_config(cfg))
    model.load_state_dict(rename(_gpt2_linear(gpt2.state_dict()), GPT2_NAMES), strict=True)
    return model
