"""Examples -> token ids. Padding is left to the collator so each batch pads only to its own longest.

A text longer than ``max_length`` is either truncated to its start, or read in windows: overlapping
slices of ``max_length`` tokens, each a row of its own with the text's label, whose outputs
``EncodedTexts.per_text`` averages back into one per text ("train short, test long": a model trained
on short windows reads a text of any length). A pair's second text is kept whole in each of its
windows, which slide over the first.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset

from ctxlearn.config import READINGS
from ctxlearn.data.example import Example
from ctxlearn.errors import ConfigError

_ROW_KEYS = ("input_ids", "attention_mask", "token_type_ids")


class Encoded(Dataset):
    """Tokenised examples as a list of dicts (what transformers' collators and Trainer expect)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


class EncodedTexts(Encoded):
    """Rows, and for each row the text it reads (``text_of``, ascending) and its weight when that
    text's rows are averaged: the number of the text's own tokens it holds."""

    def __init__(self, rows: list[dict[str, Any]], text_of: np.ndarray, weights: np.ndarray, n_texts: int) -> None:
        super().__init__(rows)
        self.text_of, self.weights, self.n_texts = text_of, weights, n_texts

    @property
    def windowed(self) -> bool:
        return len(self.rows) != self.n_texts

    def first_rows(self) -> np.ndarray:
        """(T,) the first row of each text."""
        return np.searchsorted(self.text_of, np.arange(self.n_texts))

    def per_text(self, per_row: np.ndarray) -> np.ndarray:
        """(T, ...) from (N, ...) row outputs: a text read in one row keeps that row's output exactly;
        a text read in windows gets their mean, each window weighted by its share of the text's tokens.
        For a mean-pooling classifier that is close to the head applied to the mean over all the windows'
        tokens (overlapping tokens count twice, and the windows' special tokens are pooled, not weighed)."""
        if not self.windowed:
            return per_row
        shape = (-1,) + (1,) * (per_row.ndim - 1)
        sums = np.zeros((self.n_texts, *per_row.shape[1:]))
        np.add.at(sums, self.text_of, per_row * self.weights.reshape(shape))
        totals = np.bincount(self.text_of, weights=self.weights, minlength=self.n_texts)
        out = (sums / totals.reshape(shape)).astype(per_row.dtype)
        lone = np.bincount(self.text_of, minlength=self.n_texts) == 1
        out[lone] = per_row[self.first_rows()[lone]]  # as it is, not rounded through w * x / w
        return out

    def text_labels(self) -> np.ndarray:
        """(T,) the label id of each text."""
        return np.array([self.rows[i]["labels"] for i in self.first_rows()], dtype=int)


def per_text(data: Encoded, per_row: np.ndarray) -> np.ndarray:
    """One output per text: ``per_row`` itself unless ``data`` holds windows."""
    return data.per_text(per_row) if isinstance(data, EncodedTexts) else per_row


def text_labels(data: Encoded) -> np.ndarray:
    """(T,) the label id of each text."""
    if isinstance(data, EncodedTexts):
        return data.text_labels()
    return np.array([r["labels"] for r in data.rows], dtype=int)


def encode(examples: list[Example], tokenizer: Any, labels: list[str] | None, max_length: int,
           long_inputs: str = "truncate") -> EncodedTexts:
    """Tokenise texts (or pairs); a longer text is truncated (a pair's longer side first) or, with
    ``long_inputs="windows"``, read in windows. Label ids are attached when ``labels`` is given."""
    if long_inputs not in READINGS:
        raise ConfigError(f"a split is read one of {', '.join(READINGS)} ways, not {long_inputs!r}")
    texts = [ex.text for ex in examples]
    pairs = [ex.text_pair for ex in examples] if examples and examples[0].text_pair is not None else None
    if long_inputs == "windows":
        rows, text_of, weights = _windows(tokenizer, texts, pairs, max_length)
    else:
        enc = tokenizer(texts, pairs, truncation="longest_first" if pairs else True, max_length=max_length)
        rows = [{k: enc[k][i] for k in _ROW_KEYS if k in enc} for i in range(len(texts))]
        text_of, weights = np.arange(len(texts)), np.ones(len(texts))
    if labels is not None:
        index = {lab: i for i, lab in enumerate(labels)}
        for row, t in zip(rows, text_of):
            row["labels"] = index[examples[t].label]
    return EncodedTexts(rows, np.asarray(text_of, dtype=int), np.asarray(weights, dtype=float), len(texts))


def token_lengths(examples: list[Example], tokenizer: Any) -> list[int]:
    """Each example's length in tokens, specials included, as it would be encoded whole (texts of a pair
    together)."""
    texts = [ex.text for ex in examples]
    pairs = [ex.text_pair for ex in examples] if examples and examples[0].text_pair is not None else None
    return [len(ids) for ids in tokenizer(texts, pairs, verbose=False)["input_ids"]]


def _windows(tokenizer: Any, texts: list[str], pairs: list[str] | None,
             max_length: int) -> tuple[list[dict[str, Any]], list[int], list[float]]:
    """Rows of every text in order, the text each reads, and how many of the (first) text's tokens each
    holds. Consecutive windows overlap by half a window, so every token is read with context on both
    sides somewhere. transformers' fast tokenizers cut the windows (``return_overflowing_tokens``)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"long_inputs windows needs a fast (Rust) tokenizer; {type(tokenizer).__name__} is not one")
    if pairs is None:
        budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
        return _cut(tokenizer, texts, None, max_length, budget // 2, owners=list(range(len(texts))))
    rows: list[tuple[int, dict[str, Any], float]] = []
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    seconds = tokenizer(pairs, add_special_tokens=False)["input_ids"]
    for i, (text, pair) in enumerate(zip(texts, pairs)):
        room = budget - len(seconds[i])
        if room < max(8, budget // 4):  # the second text leaves the first too little of a window: truncate the pair
            enc = tokenizer(text, pair, truncation="longest_first", max_length=max_length)
            rows.append((i, {k: enc[k] for k in _ROW_KEYS if k in enc}, 1.0))
        else:
            cut_rows, _, weights = _cut(tokenizer, [text], [pair], max_length, room // 2, owners=[i])
            rows += [(i, r, w) for r, w in zip(cut_rows, weights)]
    return [r for _, r, _ in rows], [i for i, _, _ in rows], [w for _, _, w in rows]


def _cut(tokenizer: Any, texts: list[str], pairs: list[str] | None, max_length: int, overlap: int,
         owners: list[int]) -> tuple[list[dict[str, Any]], list[int], list[float]]:
    """Windows of ``texts`` (the first of each pair), the text each reads (``owners[i]`` for ``texts[i]``),
    and each window's count of that text's tokens."""
    enc = tokenizer(texts, pairs, truncation="only_first" if pairs else True, max_length=max_length,
                    stride=overlap, return_overflowing_tokens=True)
    rows = [{k: enc[k][r] for k in _ROW_KEYS if k in enc} for r in range(len(enc["input_ids"]))]
    text_of = [owners[s] for s in enc["overflow_to_sample_mapping"]]
    weights = [float(sum(s == 0 for s in enc.sequence_ids(r))) for r in range(len(rows))]
    return rows, text_of, weights


def batches_by_length(data: Encoded, batch_size: int) -> list[list[int]]:
    """Index batches of similar length, for inference (order does not matter there, padding does)."""
    order = sorted(range(len(data)), key=lambda i: len(data.rows[i]["input_ids"]))
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
