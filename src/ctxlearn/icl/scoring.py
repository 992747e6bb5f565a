"""Scoring engine: the log-likelihood of every label's verbalizer after each prompt, for a causal LM.

A verbalizer of several tokens scores the sum of its token log-probabilities. Four things make it fast:

1. **Shared prefixes run once.** Prompts that share demonstrations share a token prefix; it is run once
   and its key/value cache is copied into every batch (:class:`Prefix`).
2. **The prompt runs once for all labels.** A packed row is a small tree: a trunk, branches that
   continue it (queries), and under each branch one short branch per label (its verbalizer). An
   attention mask lets each token see only its ancestors and position ids restart at each branch
   point, so every branch computes exactly what it would compute alone, and C labels cost one prompt.
3. **The vocabulary projection runs only where it is needed**: at the positions that predict a
   verbalizer token, not at every position of every prompt.
4. **Little padding.** Independent short prompts sit side by side in one row, as branches of an
   empty trunk, so a batch of rows is about as long as its tokens.

transformers has no tree-attention scoring (``generate`` shares no prompt across continuations), so
the packing is written here; everything else is the model's own forward.
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np
import torch
from transformers import DynamicCache

from ctxlearn.models.compat import cache_kwarg

Ids = tuple[int, ...]
PACK_MAX_BRANCHES = 8  # groups up to this size share one packed row; larger ones share a cached prefix
PACK_WIDTH = 128  # independent short prompts are packed side by side into rows of about this many tokens


def default_batch_tokens(model: torch.nn.Module) -> int:
    """Tokens per forward pass. On CPUs small batches win: the activations of 1024 tokens stay in cache
    (measured on SmolLM2-135M: 1024 tokens 28% faster than 8192); GPUs want large ones."""
    return 16384 if next(model.parameters()).device.type == "cuda" else 1024


@dataclass(frozen=True)
class Row:
    """One packed sequence: a trunk, then branches that each continue the trunk (never empty)."""

    trunk: Ids
    branches: tuple[Ids, ...]


@dataclass(frozen=True)
class Prefix:
    """The key/value cache of a prefix shared by many rows. ``forward`` appends to a ``DynamicCache``
    in place, so the tensors are kept here and every batch gets a fresh cache built from them."""

    ids: Ids
    kv: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per layer: keys, values (1, kv_heads, P, head_dim)

    def cache(self, batch: int) -> DynamicCache:
        cache = DynamicCache()
        for layer, (k, v) in enumerate(self.kv):
            cache.update(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1), layer)  # update copies
        return cache


@dataclass
class _Layout:
    """A row laid out as tokens: ``anc[s, t]`` says segment t is segment s or one of its ancestors;
    a target ``(i, token, branch, label)`` is a verbalizer token predicted by the output at token i."""

    ids: list[int]
    seg: list[int]
    pos: list[int]
    anc: np.ndarray
    targets: list[tuple[int, int, int, int]]
    branches: int


def _ancestors(parents: list[int]) -> np.ndarray:
    anc = np.zeros((len(parents), len(parents)), dtype=bool)
    for s, p in enumerate(parents):  # parents come before their children
        if p >= 0:
            anc[s] = anc[p]
        anc[s, s] = True
    return anc


def layout(row: Row, verbalizers: Sequence[Ids]) -> _Layout:
    """Lay out trunk, branches and each branch's verbalizers (all but their last token, whose output
    is never needed) with tree positions."""
    ids: list[int] = []
    seg: list[int] = []
    pos: list[int] = []
    parents: list[int] = []

    def add(tokens: Sequence[int], parent: int, start: int) -> int:
        parents.append(parent)
        ids.extend(tokens)
        seg.extend([len(parents) - 1] * len(tokens))
        pos.extend(range(start, start + len(tokens)))
        return len(parents) - 1

    add(row.trunk, -1, 0)
    targets: list[tuple[int, int, int, int]] = []
    for b, branch in enumerate(row.branches):
        if not branch:
            raise ValueError("a branch needs at least one token (its last one predicts the verbalizer)")
        s = add(branch, 0, len(row.trunk))
        last, end = len(ids) - 1, len(row.trunk) + len(branch)
        for c, verb in enumerate(verbalizers):
            first = len(ids)
            add(verb[:-1], s, end)
            sources = [last, *range(first, first + len(verb) - 1)]
            targets.extend((i, tok, b, c) for i, tok in zip(sources, verb))
    return _Layout(ids, seg, pos, _ancestors(parents), targets, len(row.branches))


def _collate(batch: list[_Layout], past: int, dtype: torch.dtype, device: torch.device):
    """input ids and position ids (B, T), and the additive attention mask (B, 1, T, past + T)."""
    width = max(len(lay.ids) for lay in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    pos = torch.zeros(len(batch), width, dtype=torch.long)
    allowed = torch.zeros(len(batch), width, past + width, dtype=torch.bool)
    allowed[:, :, :past] = True  # every token sees the whole shared prefix
    allowed[:, torch.arange(width), past + torch.arange(width)] = True  # padding sees itself: no NaN rows
    for r, lay in enumerate(batch):
        n = len(lay.ids)
        seg = np.asarray(lay.seg)
        tree = torch.from_numpy(lay.anc[seg[:, None], seg[None, :]]) & torch.ones(n, n, dtype=torch.bool).tril()
        allowed[r, :n, past:past + n] = tree
        ids[r, :n] = torch.tensor(lay.ids)
        pos[r, :n] = torch.tensor(lay.pos) + past
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)
    return ids.to(device), pos.to(device), mask[:, None].to(device)


@torch.inference_mode()
def encode_prefix(model: torch.nn.Module, ids: Sequence[int]) -> Prefix:
    """Run a shared prefix once and keep its key/value cache."""
    device = next(model.parameters()).device
    cache = DynamicCache()
    model.base_model(input_ids=torch.tensor([list(ids)], device=device), use_cache=True,
                     **{cache_kwarg(model.base_model): cache})
    return Prefix(tuple(ids), tuple((layer.keys, layer.values) for layer in cache.layers))


@torch.inference_mode()
def _score_batch(model: torch.nn.Module, batch: list[_Layout], prefix: Prefix | None, n_labels: int) -> list[np.ndarray]:
    param = next(model.parameters())
    past = len(prefix.ids) if prefix is not None else 0
    ids, pos, mask = _collate(batch, past, param.dtype, param.device)
    cache = {cache_kwarg(model.base_model): prefix.cache(len(batch)), "use_cache": True} if prefix is not None else {"use_cache": False}
    hidden = model.base_model(input_ids=ids, position_ids=pos, attention_mask=mask, **cache).last_hidden_state
    rows = [(r, *t) for r, lay in enumerate(batch) for t in lay.targets]
    r_idx, i_idx, tokens = (torch.tensor([x[k] for x in rows], device=param.device) for k in range(3))
    logits = model.get_output_embeddings()(hidden[r_idx, i_idx]).float()  # (targets, V)
    logp = torch.log_softmax(logits, -1).gather(1, tokens[:, None])[:, 0].double().cpu().numpy()
    out = [np.zeros((lay.branches, n_labels)) for lay in batch]
    for (r, _, _, b, c), v in zip(rows, logp):
        out[r][b, c] += v
    return out


def batches(lengths: Sequence[int], past: int, batch_tokens: int) -> list[list[int]]:
    """Row indices in batches of similar length (at least one row each): at most ``batch_tokens`` new
    tokens, padding included, and 8 times that counting the shared prefix every row attends to (its
    key/value cache is copied per row)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    for i in order:  # ascending, so the row being added is the batch's longest
        n = len(out[-1]) + 1 if out else 0
        if out and n * lengths[i] <= batch_tokens and n * (past + lengths[i]) <= 8 * batch_tokens:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def score_rows(model: torch.nn.Module, rows: list[Row], verbalizers: Sequence[Ids], prefix: Prefix | None = None,
               batch_tokens: int = 1024) -> list[np.ndarray]:
    """Per row, the (branches, labels) log-likelihoods of each verbalizer after each branch.
    ``prefix`` (if given) comes before every row."""
    lays = [layout(r, verbalizers) for r in rows]
    out: list[np.ndarray | None] = [None] * len(rows)
    past = len(prefix.ids) if prefix is not None else 0
    for idx in batches([len(lay.ids) for lay in lays], past, batch_tokens):
        for i, scores in zip(idx, _score_batch(model, [lays[i] for i in idx], prefix, len(verbalizers))):
            out[i] = scores
    return out  # type: ignore[return-value]


def common_prefix(seqs: Sequence[Ids]) -> int:
    """Length of the longest common prefix, leaving every sequence at least one token of its own."""
    n = min(len(s) for s in seqs) - 1
    first = seqs[0]
    for s in seqs[1:]:
        n = next((i for i in range(n) if s[i] != first[i]), n)
    return max(n, 0)


def pack(lengths: Sequence[int], width: int) -> list[list[int]]:
    """Best-fit decreasing: indices packed into bins of at most ``width`` (an item wider than that
    gets a bin of its own)."""
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (room left, bin), sorted
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        k = bisect.bisect_left(free, (lengths[i], -1))
        if k < len(free):
            room, b = free.pop(k)
            bins[b].append(i)
            bisect.insort(free, (room - lengths[i], b))
        else:
            bins.append([i])
            bisect.insort(free, (width - lengths[i], len(bins) - 1))
    return bins


def _score_packed(model: torch.nn.Module, seqs: list[Ids], verbalizers: Sequence[Ids], prefix: Prefix | None,
                  batch_tokens: int) -> np.ndarray:
    """(len(seqs), C): independent prompts packed side by side as branches of trunk-less rows, so
    short prompts fill rows instead of padding."""
    extra = sum(len(v) - 1 for v in verbalizers)  # tokens each branch adds for its labels' words
    lengths = [len(q) + extra for q in seqs]
    bins = pack(lengths, max(PACK_WIDTH, max(lengths)))
    out = np.zeros((len(seqs), len(verbalizers)))
    rows = [Row((), tuple(seqs[i] for i in b)) for b in bins]
    for b, scores in zip(bins, score_rows(model, rows, verbalizers, prefix, batch_tokens)):
        out[b] = scores
    return out


def score_prompts(model: torch.nn.Module, prompts: Sequence[Ids], verbalizers: Sequence[Ids],
                  groups: Sequence[Hashable] | None = None, batch_tokens: int = 0, share: bool = True) -> np.ndarray:
    """(N, C) log-likelihood of each verbalizer after each prompt. Prompts with the same group key
    (e.g. the same demonstrations) share work: their common token prefix runs once, as a cached
    prefix for large groups or as the trunk of one packed row for small ones. ``share=False`` runs
    every prompt alone (for checks). ``batch_tokens=0`` picks :func:`default_batch_tokens`."""
    batch_tokens = batch_tokens or default_batch_tokens(model)
    keys = groups if groups is not None and share else range(len(prompts))
    members: dict[Hashable, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        members[key].append(i)
    out = np.zeros((len(prompts), len(verbalizers)))
    singles = [idx[0] for idx in members.values() if len(idx) == 1]
    if singles and share:
        out[singles] = _score_packed(model, [tuple(prompts[i]) for i in singles], verbalizers, None, batch_tokens)
    elif singles:
        rows = [Row((), (tuple(prompts[i]),)) for i in singles]
        out[singles] = np.concatenate(score_rows(model, rows, verbalizers, None, batch_tokens))
    trunks: list[tuple[list[int], Row]] = []
    for idx in (idx for idx in members.values() if len(idx) > 1):
        n = common_prefix([prompts[i] for i in idx])
        if len(idx) > PACK_MAX_BRANCHES:
            prefix = encode_prefix(model, prompts[idx[0]][:n]) if n else None
            out[idx] = _score_packed(model, [tuple(prompts[i][n:]) for i in idx], verbalizers, prefix, batch_tokens)
        else:
            trunks.append((idx, Row(tuple(prompts[idx[0]][:n]), tuple(tuple(prompts[i][n:]) for i in idx))))
    for (idx, _), s in zip(trunks, score_rows(model, [row for _, row in trunks], verbalizers, None, batch_tokens)):
        out[idx] = s
    return out
