"""A Transformer you can read top to bottom: config, position encodings, attention, blocks, stacks.

One file in the spirit of nanoGPT's ``model.py``. Encoder-only (BERT), decoder-only (GPT) and
encoder-decoder models are the same pieces: a :class:`Stack` of :class:`Block` s over
:class:`Embeddings`, bidirectional or causal, with or without cross-attention. The Hugging Face
shells that make these models ``save_pretrained`` / ``from_pretrained`` / Auto-class / peft
compatible live in ``hf.py``; nothing here depends on them.

Shapes in comments: B batch, T query length, S key length (past + T for self-attention, the encoder
length for cross-attention), C = d_model, nh heads, hs = C // nh head size, V vocabulary.

Position encodings (``positions``):
  sinusoidal  fixed sin/cos added to the token embeddings (Vaswani et al. 2017)
  learned     a trained table added to the token embeddings (BERT, GPT-2); cannot go past max_len
  relative    a trained bias per head and bucketed key-query distance, added to attention logits (T5)
  rope        queries and keys rotated by position, so their dot product sees only distance (Su et al.)
  alibi       a fixed per-head linear penalty on distance, added to attention logits (Press et al. 2021)
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedConfig

from ctxlearn.config import opt
from ctxlearn.errors import ConfigError

ARCHS = ("encoder", "decoder", "encoder-decoder")
POSITIONS = ("sinusoidal", "learned", "relative", "rope", "alibi")
NORMS = ("pre", "post")
ATTENTION = ("sdpa", "reference")
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,  # exact erf GELU (BERT)
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),  # GPT-2's "gelu_new"
    "relu": F.relu,
}


class ScratchConfig(PreTrainedConfig):
    """Everything that shapes a scratch model. A transformers config (a dataclass in transformers 5),
    so it saves to config.json and loads with ``AutoConfig``; ``attribute_map`` gives the standard
    names (``hidden_size``, ``num_hidden_layers``, ...) that transformers, peft and ctxlearn read."""

    model_type = "ctxlearn-scratch"
    attribute_map = {"hidden_size": "d_model", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                     "intermediate_size": "d_ff", "max_position_embeddings": "max_len"}

    arch: str = opt("decoder", "encoder (bidirectional), decoder (causal) or encoder-decoder")
    vocab_size: int = opt(8000, "tokens in the vocabulary")
    d_model: int = opt(256, "width of the residual stream")
    n_layer: int = opt(4, "blocks (of the encoder, for encoder-decoder)")
    n_decoder_layer: int = opt(0, "decoder blocks of an encoder-decoder (0 = n_layer)")
    n_head: int = opt(4, "attention heads; d_model must divide by it")
    d_ff: int = opt(0, "hidden width of the feed-forward layer (0 = 4 * d_model)")
    max_len: int = opt(512, "context length: size of the learned position table; the advertised context otherwise")
    positions: str = opt("rope", "position encoding: " + ", ".join(POSITIONS))
    norm: str = opt("pre", "pre-LN (normalise each branch input, GPT-2) or post-LN (normalise each sum, BERT)")
    activation: str = opt("gelu", "feed-forward activation: " + ", ".join(ACTIVATIONS))
    norm_eps: float = opt(1e-5, "LayerNorm epsilon")
    dropout: float = opt(0.1, "dropout on embeddings and on each residual branch")
    attn_dropout: float = opt(0.1, "dropout on attention probabilities")
    bias: bool = opt(True, "biases in linear layers")
    type_vocab_size: int = opt(0, "token-type (segment) embeddings, as BERT has for sentence pairs (0 = none)")
    relative_buckets: int = opt(32, "relative: distance buckets (half each way for bidirectional attention)")
    relative_max_distance: int = opt(128, "relative: distances beyond this share the last bucket")
    rope_theta: float = opt(10000.0, "rope: base of the rotation frequencies")
    attention_impl: str = opt("sdpa", "sdpa (torch's fused kernels) or reference (explicit softmax, for tests)")
    pooling: str = opt("mean", "how `ctxlearn train` pools token states into a sentence vector: mean or cls")
    initializer_range: float = opt(0.02, "std of the normal initialisation of weights")
    tie_word_embeddings: bool = opt(True, "output projection shares the token embedding matrix")
    pad_token_id: int | None = opt(None, "padding token id")
    bos_token_id: int | None = opt(None, "beginning-of-sequence token id")
    eos_token_id: int | None = opt(None, "end-of-sequence token id")
    decoder_start_token_id: int | None = opt(None, "encoder-decoder: first decoder input token id")
    use_cache: bool = opt(True, "decoders return a key/value cache for incremental decoding")

    def __post_init__(self, **kwargs: Any) -> None:
        for alias, name in self.attribute_map.items():  # standard names arrive here; apply them before deriving
            if alias in kwargs:
                setattr(self, name, kwargs.pop(alias))
        self.d_ff = self.d_ff or 4 * self.d_model
        self.n_decoder_layer = self.n_decoder_layer or self.n_layer
        self.is_encoder_decoder = self.arch == "encoder-decoder"
        self._check()
        super().__post_init__(**kwargs)

    def _check(self) -> None:
        for name, allowed in (("arch", ARCHS), ("positions", POSITIONS), ("norm", NORMS),
                              ("attention_impl", ATTENTION), ("activation", tuple(ACTIVATIONS)), ("pooling", ("mean", "cls"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"scratch model config: {name} is {getattr(self, name)!r}; choose one of {', '.join(allowed)}")
        if self.d_model % self.n_head:
            raise ConfigError(f"scratch model config: d_model {self.d_model} must divide by n_head {self.n_head}")
        if self.positions == "rope" and (self.d_model // self.n_head) % 2:
            raise ConfigError(f"scratch model config: rope needs an even head size, not {self.d_model // self.n_head}")


# ----------------------------------------------------------------------------- position encodings

def sinusoidal(pos: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, T) positions -> (B, T, dim): sin on even channels, cos on odd, wavelengths 2π to 10000·2π."""
    freq = torch.exp(torch.arange(0, dim, 2, device=pos.device) * (-math.log(10000.0) / dim))  # (dim/2,)
    angle = pos[..., None].float() * freq  # (B, T, dim/2)
    return torch.stack([angle.sin(), angle.cos()], -1).flatten(-2)  # (B, T, dim) interleaved


def rope(x: torch.Tensor, pos: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotate channel pairs (i, i + hs/2) of x (B, nh, T, hs) by angle pos * theta^(-2i/hs), with
    pos (B, T) (the GPT-NeoX / Llama layout). Rotating q and k by their own positions leaves
    q·k depending only on their distance."""
    half = x.shape[-1] // 2
    inv_freq = theta ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)  # (hs/2,)
    angle = pos[:, None, :, None].float() * inv_freq  # (B, 1, T, hs/2)
    cos, sin = angle.cos(), angle.sin()
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).to(x.dtype)  # (B, nh, T, hs)


def relative_bucket(rel: torch.Tensor, bidirectional: bool, n_buckets: int, max_distance: int) -> torch.Tensor:
    """T5's buckets for key - query distances ``rel``: one bucket per distance below n/2, then
    log-spaced up to ``max_distance``; bidirectional attention spends half the buckets on each side."""
    bucket = torch.zeros_like(rel)
    if bidirectional:
        n_buckets //= 2
        bucket = (rel > 0).long() * n_buckets  # keys after the query get the upper half
        dist = rel.abs()
    else:
        dist = (-rel).clamp(min=0)  # causal: only keys at or before the query matter
    exact = n_buckets // 2
    log_ratio = torch.log(dist.clamp(min=1).float() / exact) / math.log(max_distance / exact)
    far = (exact + (log_ratio * (n_buckets - exact)).long()).clamp(max=n_buckets - 1)
    return bucket + torch.where(dist < exact, dist, far)


def alibi_slopes(n_head: int) -> torch.Tensor:
    """(nh,) ALiBi slopes: the geometric sequence 2^(-8/n), 2^(-16/n), ... for n a power of two; other
    counts take the closest power of two and every other slope of the next one (Press et al. 2021)."""
    def powers(n: int) -> list[float]:
        return [2 ** (-8 * (i + 1) / n) for i in range(n)]

    base = 2 ** math.floor(math.log2(n_head))
    return torch.tensor(powers(base) + powers(2 * base)[0::2][:n_head - base])


class PositionBias(nn.Module):
    """Additive attention-logit bias from key - query distance: T5's learned bucketed bias (shared by
    all layers, as in T5) or ALiBi's fixed linear penalty (no parameters)."""

    def __init__(self, cfg: ScratchConfig, bidirectional: bool) -> None:
        super().__init__()
        self.kind, self.bidirectional, self.cfg = cfg.positions, bidirectional, cfg
        if self.kind == "relative":
            self.table = nn.Embedding(cfg.relative_buckets, cfg.n_head)

    def forward(self, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        """(B, T) query and (B, S) key positions -> (B, nh, T, S)."""
        rel = k_pos[:, None, :] - q_pos[:, :, None]  # (B, T, S)
        if self.kind == "relative":
            buckets = relative_bucket(rel, self.bidirectional, self.cfg.relative_buckets, self.cfg.relative_max_distance)
            return self.table(buckets).permute(0, 3, 1, 2)  # (B, T, S, nh) -> (B, nh, T, S)
        slopes = alibi_slopes(self.cfg.n_head).to(rel.device)
        return -slopes[None, :, None, None] * rel.abs()[:, None].float()  # (B, nh, T, S)


# ----------------------------------------------------------------------------- attention

def reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
                        is_causal: bool = False, dropout_p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T / sqrt(hs) + mask) v, spelled out: what SDPA computes, for tests and the benchmark.
    q (B, nh, T, hs), k and v (B, nh, S, hs), mask additive and broadcastable to (B, nh, T, S)."""
    att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, nh, T, S)
    if is_causal:
        T, S = att.shape[-2:]
        att = att.masked_fill(~torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T), float("-inf"))
    if mask is not None:
        att = att + mask
    att = F.dropout(torch.softmax(att.float(), -1).to(q.dtype), dropout_p)
    return att @ v  # (B, nh, T, hs)


def build_mask(attention_mask: torch.Tensor | None, T: int, S: int, causal: bool, dtype: torch.dtype,
               device: torch.device | None = None) -> torch.Tensor | None:
    """Additive mask: 0 where a query may look at a key, the dtype's most negative value where not
    (finite, so a row with nothing to see gives a uniform average instead of NaN).

    ``attention_mask`` is (B, S) with 1 at real tokens and 0 at padding, or a ready (B, 1, T, S) mask,
    boolean or additive, that already says everything (ctxlearn's ICL passes tree-shaped masks).
    Returns (B|1, 1, T|1, S), or None when every query may see every key."""
    if attention_mask is not None and attention_mask.dim() == 4:
        if attention_mask.dtype != torch.bool:
            return attention_mask.to(dtype)
        allowed = attention_mask
    else:
        allowed = None
        if causal:  # query t (at absolute index S - T + t) sees keys up to itself
            allowed = torch.ones(T, S, dtype=torch.bool, device=device).tril(S - T)[None, None]  # (1, 1, T, S)
        if attention_mask is not None:
            keys = attention_mask[:, None, None, :].bool()  # (B, 1, 1, S)
            allowed = keys if allowed is None else allowed & keys
    if allowed is None:
        return None
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


class Attention(nn.Module):
    """Multi-head attention: self-attention (optionally with RoPE and a key/value cache) or, given
    ``kv``, cross-attention to an encoder's states."""

    def __init__(self, cfg: ScratchConfig, layer_idx: int, cross: bool = False) -> None:
        super().__init__()
        C = cfg.d_model
        self.query, self.key, self.value = (nn.Linear(C, C, bias=cfg.bias) for _ in range(3))
        self.out = nn.Linear(C, C, bias=cfg.bias)
        self.nh, self.layer_idx, self.dropout = cfg.n_head, layer_idx, cfg.attn_dropout
        self.rope_theta = cfg.rope_theta if cfg.positions == "rope" and not cross else None
        self.impl = cfg.attention_impl

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool, pos: torch.Tensor | None,
                cache: Any = None, kv: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        src = x if kv is None else kv  # (B, S, C)
        q = self.query(x).view(B, T, self.nh, C // self.nh).transpose(1, 2)  # (B, nh, T, hs)
        k = self.key(src).view(B, src.shape[1], self.nh, C // self.nh).transpose(1, 2)  # (B, nh, S, hs)
        v = self.value(src).view(B, src.shape[1], self.nh, C // self.nh).transpose(1, 2)  # (B, nh, S, hs)
        if self.rope_theta is not None:
            q, k = rope(q, pos, self.rope_theta), rope(k, pos, self.rope_theta)
        if cache is not None:  # keys and values of earlier tokens, already rotated: (B, nh, past + T, hs)
            k, v = cache.update(k, v, self.layer_idx)
        p = self.dropout if self.training else 0.0
        if self.impl == "reference":
            y = reference_attention(q, k, v, mask, is_causal, p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal)
        return self.out(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)


# ----------------------------------------------------------------------------- blocks and stacks

class MLP(nn.Module):
    def __init__(self, cfg: ScratchConfig) -> None:
        super().__init__()
        self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        self.down = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias)
        self.act = ACTIVATIONS[cfg.activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))  # (B, T, C) -> (B, T, d_ff) -> (B, T, C)


class Block(nn.Module):
    """Self-attention, cross-attention (decoders of encoder-decoders only), feed-forward; each a
    residual branch, normalised pre- or post-LN."""

    def __init__(self, cfg: ScratchConfig, layer_idx: int, cross: bool = False) -> None:
        super().__init__()
        self.attn, self.norm1 = Attention(cfg, layer_idx), nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.cross = Attention(cfg, layer_idx, cross=True) if cross else None
        self.norm_cross = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps) if cross else None
        self.mlp, self.norm2 = MLP(cfg), nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.drop = nn.Dropout(cfg.dropout)
        self.pre = cfg.norm == "pre"

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool, pos: torch.Tensor,
                cache: Any = None, enc: torch.Tensor | None = None, enc_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.residual(x, self.norm1, lambda h: self.attn(h, mask, is_causal, pos, cache))
        if self.cross is not None:
            x = self.residual(x, self.norm_cross, lambda h: self.cross(h, enc_mask, False, None, kv=enc))
        return self.residual(x, self.norm2, self.mlp)  # (B, T, C)

    def residual(self, x: torch.Tensor, norm: nn.Module, branch: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        if self.pre:  # pre-LN: the residual stream is never normalised, so deep stacks train without warm-up tricks
            return x + self.drop(branch(norm(x)))
        return norm(x + self.drop(branch(x)))  # post-LN: the original Transformer and BERT


class Embeddings(nn.Module):
    """Token embeddings, plus absolute positions (learned or sinusoidal) and token types when the
    config has them; LayerNorm'd for post-LN models (as BERT does), then dropout."""

    def __init__(self, cfg: ScratchConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = nn.Embedding(cfg.max_len, cfg.d_model) if cfg.positions == "learned" else None
        self.types = nn.Embedding(cfg.type_vocab_size, cfg.d_model) if cfg.type_vocab_size else None
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps) if cfg.norm == "post" else None
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, input_ids: torch.Tensor | None, pos: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        x = self.tokens(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, C)
        if self.cfg.positions == "sinusoidal":  # scaled up as in Vaswani et al. so positions do not swamp tokens
            x = x * math.sqrt(self.cfg.d_model) + sinusoidal(pos, self.cfg.d_model).to(x.dtype)
        elif self.positions is not None:
            if int(pos.max()) >= self.cfg.max_len:
                raise ConfigError(f"position {int(pos.max())} is past the learned position table (max_len "
                                  f"{self.cfg.max_len}); learned positions cannot extrapolate: use shorter inputs")
            x = x + self.positions(pos)
        if self.types is not None:
            x = x + self.types(token_type_ids if token_type_ids is not None else torch.zeros_like(pos))
        if self.norm is not None:
            x = self.norm(x)
        return self.drop(x)  # (B, T, C)


class Stack(nn.Module):
    """Embeddings, blocks and (pre-LN) a final LayerNorm: a whole encoder (``causal=False``) or decoder."""

    def __init__(self, cfg: ScratchConfig, causal: bool, n_layer: int, cross: bool = False) -> None:
        super().__init__()
        self.causal = causal
        self.embed = Embeddings(cfg)
        self.layers = nn.ModuleList(Block(cfg, i, cross) for i in range(n_layer))
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps) if cfg.norm == "pre" else None
        biased = cfg.positions in ("relative", "alibi")
        self.position_bias = PositionBias(cfg, bidirectional=not causal) if biased else None

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                cache: Any = None, inputs_embeds: torch.Tensor | None = None, enc: torch.Tensor | None = None,
                enc_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Token states (B, T, C). ``attention_mask``: (B, past + T) of 1/0, or a ready (B, 1, T, S)
        mask; ``position_ids`` (B, T) default to what ``positions`` says; ``cache`` a transformers Cache
        (decoders) that is extended in place; ``enc`` and ``enc_mask`` the encoder's states and mask."""
        B, T = (input_ids if inputs_embeds is None else inputs_embeds[..., 0]).shape
        device = (input_ids if inputs_embeds is None else inputs_embeds).device
        past = cache.get_seq_length() if cache is not None else 0
        pos = self.positions(attention_mask, past, B, T, device)  # (B, past + T)
        if position_ids is None:
            position_ids = pos[:, past:]  # (B, T)
        x = self.embed(input_ids, position_ids, token_type_ids, inputs_embeds)  # (B, T, C)
        mask, is_causal = self.mask(attention_mask, position_ids, pos[:, :past], x.dtype)
        if enc_mask is not None:
            enc_mask = build_mask(enc_mask, T, enc_mask.shape[-1], False, x.dtype, device)  # (B, 1, 1, S_enc)
        for block in self.layers:
            x = block(x, mask, is_causal, position_ids, cache, enc, enc_mask)
        return self.norm(x) if self.norm is not None else x  # (B, T, C)

    def positions(self, attention_mask: torch.Tensor | None, past: int, B: int, T: int,
                  device: torch.device) -> torch.Tensor:
        """(B, past + T) positions of the cached and the new tokens. With a 2-D mask a decoder counts real
        tokens only (cumsum - 1, as generate makes position_ids), so a left-padded row's tokens sit where
        they would unpadded and cached keys keep the positions they had as queries; otherwise (no mask,
        or ICL's 4-D masks with their own position_ids) positions count from 0.

        An encoder caches only peft prefix tuning's virtual keys, which have no position: they sit at 0
        (where an unrotated RoPE key is), and real tokens keep the 0 .. T-1 they were pretrained at
        however long the prefix (a learned table need not make room for it)."""
        if not self.causal:
            zeros, real = torch.zeros(past, dtype=torch.long, device=device), torch.arange(T, device=device)
            return torch.cat([zeros, real]).expand(B, past + T)
        if attention_mask is not None and attention_mask.dim() == 2:
            return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, past + T); pads clamp to 0
        return torch.arange(past + T, device=device).expand(B, past + T)

    def mask(self, attention_mask: torch.Tensor | None, pos: torch.Tensor, past_pos: torch.Tensor,
             dtype: torch.dtype) -> tuple[torch.Tensor | None, bool]:
        """(additive mask with position bias, is_causal) for queries at ``pos`` (B, T) and cached keys at
        ``past_pos`` (B, past). A plain causal pass without padding, cache or bias keeps is_causal=True
        and no mask, so SDPA can take its fused (flash) path."""
        T, past = pos.shape[1], past_pos.shape[1]
        if self.causal and attention_mask is None and past == 0 and self.position_bias is None:
            return None, True
        mask = build_mask(attention_mask, T, past + T, self.causal, dtype, pos.device)  # (B|1, 1, T|1, S) or None
        if self.position_bias is not None:
            B = max(len(pos), len(past_pos))  # position_ids may come as (1, T)
            k_pos = torch.cat([past_pos.expand(B, past), pos.expand(B, T)], 1)  # (B, S): new keys sit where their queries do
            bias = self.position_bias(pos, k_pos).to(dtype)  # (B, nh, T, S)
            mask = bias if mask is None else mask + bias
        return mask, False


class MLMHead(nn.Module):
    """BERT's masked-LM transform (dense, activation, LayerNorm) before the tied output projection:
    it lets the last layer's states stay general rather than turn into vocabulary logits."""

    def __init__(self, cfg: ScratchConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.d_model, cfg.d_model)
        self.act = ACTIVATIONS[cfg.activation]
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.act(self.dense(x)))  # (B, T, C)
