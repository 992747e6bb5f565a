"""Hugging Face shells around ``model.py``, registered with transformers' Auto classes on import.

``ScratchModel`` (``AutoModel``) is the bare stack that ctxlearn's ``train`` wraps in a classifier;
``ScratchForMaskedLM``, ``ScratchForCausalLM`` and ``ScratchForSeq2SeqLM`` add the tied output
projection and the loss. Heads keep the base model under ``model.``, so an MLM checkpoint loads
into ``AutoModel`` with its head dropped, as BERT's does. ``import ctxlearn.scratch`` is all a
plain transformers script needs before ``AutoModel.from_pretrained(folder)``.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM,
                          DynamicCache, EncoderDecoderCache, GenerationMixin, PreTrainedModel)
from transformers.modeling_outputs import (BaseModelOutput, BaseModelOutputWithPast, CausalLMOutputWithPast,
                                           MaskedLMOutput, Seq2SeqLMOutput, Seq2SeqModelOutput)

from ctxlearn.errors import ConfigError
from ctxlearn.scratch.model import MLMHead, ScratchConfig, Stack

IGNORE = -100  # label of positions that carry no loss, as transformers' collators write it


def output(cls: type, **fields: Any) -> Any:
    """``cls(**fields)`` with the cache under this transformers' name for it: ``cache`` in recent 5.x
    releases, ``past_key_values`` in earlier ones (5.17, for one, which GPU images carry)."""
    if "cache" in fields and "cache" not in {f.name for f in dataclasses.fields(cls)}:
        fields["past_key_values"] = fields.pop("cache")
    return cls(**fields)


def cache_of(out: Any) -> Any:
    """The cache an output carries, under either name (see ``output``)."""
    return getattr(out, "cache", None) if hasattr(out, "cache") else getattr(out, "past_key_values", None)


class ScratchPreTrainedModel(PreTrainedModel):
    config_class = ScratchConfig
    config: ScratchConfig
    base_model_prefix = "model"
    _no_split_modules = ["Block"]
    _supports_sdpa = True

    def _need(self, arch: str) -> None:
        if self.config.arch != arch:
            raise ConfigError(f"{type(self).__name__} needs arch {arch!r}; this config has arch {self.config.arch!r}")


class ScratchModel(ScratchPreTrainedModel):
    """The bare model: ``encoder`` and/or ``decoder`` stacks; outputs ``last_hidden_state``."""

    def __init__(self, config: ScratchConfig) -> None:
        super().__init__(config)
        seq2seq = config.arch == "encoder-decoder"
        if config.arch != "decoder":
            self.encoder = Stack(config, causal=False, n_layer=config.n_layer)
        if config.arch != "encoder":
            n = config.n_decoder_layer if seq2seq else config.n_layer
            self.decoder = Stack(config, causal=True, n_layer=n, cross=seq2seq)
        self.post_init()

    @property
    def main(self) -> Stack:
        """The stack that reads ``input_ids``: the encoder, or a decoder-only model's decoder."""
        return self.decoder if self.config.arch == "decoder" else self.encoder

    @property
    def layers(self) -> nn.ModuleList:
        """The main stack's blocks, where code looks for a backbone's layer list (ctxlearn's topk)."""
        return self.main.layers

    def get_input_embeddings(self) -> nn.Embedding:
        return self.main.embed.tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.main.embed.tokens = value

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                cache: Any = None, inputs_embeds: torch.Tensor | None = None, use_cache: bool | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                encoder_outputs: Any = None, **kwargs: Any) -> BaseModelOutputWithPast | Seq2SeqModelOutput:
        """``cache`` is a transformers Cache (the name transformers 5 gives it; ``past_key_values``, the
        older name that peft still passes, is accepted too)."""
        given = cache if cache is not None else kwargs.get("past_key_values")
        if self.config.arch == "encoder-decoder":
            return self._seq2seq(input_ids, attention_mask, token_type_ids, inputs_embeds, decoder_input_ids,
                                 decoder_attention_mask, encoder_outputs, given, use_cache)
        cache = self._cache(given, use_cache) if self.config.arch == "decoder" else given
        hidden = self.main(input_ids, attention_mask, position_ids, token_type_ids, cache, inputs_embeds)
        return output(BaseModelOutputWithPast, last_hidden_state=hidden, cache=cache)  # (B, T, C)

    def _cache(self, cache: Any, use_cache: bool | None) -> Any:
        """The cache to extend: the one given, a new one when caching is on, else None."""
        if use_cache is None:
            use_cache = self.config.use_cache and not self.training
        if cache is None and use_cache:
            cache = DynamicCache()
        return cache

    def _seq2seq(self, input_ids, attention_mask, token_type_ids, inputs_embeds, decoder_input_ids,
                 decoder_attention_mask, encoder_outputs, cache, use_cache) -> Seq2SeqModelOutput:
        if encoder_outputs is None:
            encoder_outputs = BaseModelOutput(last_hidden_state=self.encoder(
                input_ids, attention_mask, token_type_ids=token_type_ids, inputs_embeds=inputs_embeds))
        # a bare tensor's [0] would be batch row 0, silently broadcast to every row
        enc = encoder_outputs if isinstance(encoder_outputs, torch.Tensor) else encoder_outputs[0]  # (B, S_enc, C)
        cache = self._cache(cache, use_cache)
        # generate hands encoder-decoders an EncoderDecoderCache; only its self-attention half is used,
        # as cross-attention keys and values are recomputed from ``enc`` each step (cheap at this size)
        own = cache.self_attention_cache if isinstance(cache, EncoderDecoderCache) else cache
        hidden = self.decoder(decoder_input_ids, decoder_attention_mask, cache=own, enc=enc, enc_mask=attention_mask)
        return output(Seq2SeqModelOutput, last_hidden_state=hidden, cache=cache, encoder_last_hidden_state=enc)


class EncoderOutputs(nn.Module):
    """The encoder stack as ``generate`` calls it: with extra keywords (``output_attentions``,
    ``return_dict``, ...) that it drops, returning a ``BaseModelOutput`` rather than a bare tensor."""

    def __init__(self, stack: Stack) -> None:
        super().__init__()
        self.stack = stack

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None,
                **_: Any) -> BaseModelOutput:
        return BaseModelOutput(last_hidden_state=self.stack(input_ids, attention_mask, token_type_ids=token_type_ids,
                                                            inputs_embeds=inputs_embeds))  # (B, S_enc, C)


def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over positions whose label is not IGNORE; logits (B, T, V), labels (B, T)."""
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE)


class ScratchLM(ScratchPreTrainedModel):
    """The base model under ``model`` and an output projection ``lm_head``, tied to the token
    embeddings unless the config says otherwise. Subclasses name the architecture they need."""

    arch, lm_bias = "", False

    def __init__(self, config: ScratchConfig) -> None:
        super().__init__(config)
        self._need(self.arch)
        self.model = ScratchModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=self.lm_bias)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value


class ScratchForCausalLM(ScratchLM, GenerationMixin):
    """Decoder-only LM. ``labels`` are the inputs themselves: the shift happens here."""

    arch = "decoder"
    _tied_weights_keys = {"lm_head.weight": "model.decoder.embed.tokens.weight"}

    def __init__(self, config: ScratchConfig) -> None:
        super().__init__(config)
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, cache: Any = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                use_cache: bool | None = None, **kwargs: Any) -> CausalLMOutputWithPast:
        out = self.model(input_ids, attention_mask, position_ids=position_ids, cache=cache,
                         inputs_embeds=inputs_embeds, use_cache=use_cache, **kwargs)
        logits = self.lm_head(out.last_hidden_state)  # (B, T, V)
        loss = lm_loss(logits[:, :-1], labels[:, 1:]) if labels is not None else None  # token t predicts t + 1
        return output(CausalLMOutputWithPast, loss=loss, logits=logits, cache=cache_of(out))


class ScratchForMaskedLM(ScratchLM):
    """Encoder with BERT's masked-LM head; ``labels`` hold IGNORE except at masked positions."""

    arch, lm_bias = "encoder", True
    _tied_weights_keys = {"lm_head.weight": "model.encoder.embed.tokens.weight"}

    def __init__(self, config: ScratchConfig) -> None:
        super().__init__(config)
        self.transform = MLMHead(config)
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None, **_: Any) -> MaskedLMOutput:
        hidden = self.model(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds=inputs_embeds).last_hidden_state
        logits = self.lm_head(self.transform(hidden))  # (B, T, V)
        return MaskedLMOutput(loss=lm_loss(logits, labels) if labels is not None else None, logits=logits)


class ScratchForSeq2SeqLM(ScratchLM, GenerationMixin):
    """Encoder-decoder LM; with ``labels`` and no ``decoder_input_ids`` the labels are shifted right."""

    arch = "encoder-decoder"
    _tied_weights_keys = {"lm_head.weight": "model.decoder.embed.tokens.weight"}

    def __init__(self, config: ScratchConfig) -> None:
        super().__init__(config)
        self.post_init()

    def get_encoder(self, modality: str | None = None) -> EncoderOutputs:
        """The encoder as generate calls it (see ``EncoderOutputs``); it holds no weights of its own."""
        return EncoderOutputs(self.model.encoder)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, encoder_outputs: Any = None, cache: Any = None,
                use_cache: bool | None = None, **kwargs: Any) -> Seq2SeqLMOutput:
        if decoder_input_ids is None and labels is not None:
            decoder_input_ids = self.shift_right(labels)
        out = self.model(input_ids, attention_mask, decoder_input_ids=decoder_input_ids,
                         decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                         cache=cache, use_cache=use_cache, **kwargs)
        logits = self.lm_head(out.last_hidden_state)  # (B, T_dec, V)
        return output(Seq2SeqLMOutput, loss=lm_loss(logits, labels) if labels is not None else None, logits=logits,
                      cache=cache_of(out), encoder_last_hidden_state=out.encoder_last_hidden_state)

    def shift_right(self, labels: torch.Tensor) -> torch.Tensor:
        """Decoder inputs for teacher forcing: the start token, then the labels but their last."""
        start = self.config.decoder_start_token_id
        if start is None:
            raise ConfigError("encoder-decoder config: set decoder_start_token_id to shift labels into decoder inputs")
        shifted = torch.cat([labels.new_full((labels.shape[0], 1), start), labels[:, :-1]], 1)
        return shifted.masked_fill(shifted == IGNORE, self.config.pad_token_id or 0)


def register() -> None:
    """Make ``Auto*.from_pretrained`` recognise scratch folders (idempotent)."""
    AutoConfig.register(ScratchConfig.model_type, ScratchConfig, exist_ok=True)
    for auto, cls in ((AutoModel, ScratchModel), (AutoModelForMaskedLM, ScratchForMaskedLM),
                      (AutoModelForCausalLM, ScratchForCausalLM), (AutoModelForSeq2SeqLM, ScratchForSeq2SeqLM)):
        auto.register(ScratchConfig, cls, exist_ok=True)


register()
