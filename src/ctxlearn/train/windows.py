"""Tagged sentences -> token ids, word-aligned labels and windows; and window outputs -> one per word.

Alignment: the first sub-word of each word carries its label; the other sub-words and the special
tokens carry -100, which the loss ignores. A word is read from its first sub-word.

Windows: a sentence longer than the model's window (``max_length`` less the special tokens) is
split at word boundaries into windows that overlap by about half a window. Each word is then read
from the window where it has the most context, the larger of the smaller distances (in sub-words)
to the window's two edges, where the sentence's own start or end counts as no edge at all. A
sentence that fits is one window, so one pass and the windowed pass agree on it exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ctxlearn.data.example import TaggedSentence
from ctxlearn.errors import ConfigError
from ctxlearn.models.infer import map_rows
from ctxlearn.models.tagger import IGNORE
from ctxlearn.train.encode import Encoded

NO_EDGE = 1 << 30  # the context a sentence's own start or end gives: no window edge cuts it


@dataclass(frozen=True)
class Window:
    sentence: int
    start: int  # first word
    end: int  # one past the last word


class EncodedTags(Encoded):
    """Window rows (what the collator and Trainer see) plus, for every word of every sentence in
    order, which row and position it is read from (``owner_row`` -1: a word with no sub-word)."""

    def __init__(self, rows: list[dict[str, Any]], sentences: list[TaggedSentence], windows: list[Window],
                 owner_row: np.ndarray, owner_pos: np.ndarray, word_labels: np.ndarray | None) -> None:
        super().__init__(rows)
        self.sentences, self.windows = sentences, windows
        self.owner_row, self.owner_pos, self.word_labels = owner_row, owner_pos, word_labels
        self.starts = np.cumsum([0, *(len(s.tokens) for s in sentences)])  # (S+1,) first word of each sentence

    @property
    def n_words(self) -> int:
        return int(self.starts[-1])

    def per_word(self, per_row: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(W, ...) values of each word read from its owning window, from (N, T, ...) padded outputs of
        every row; words with no sub-word get ``fill``."""
        out = np.full((self.n_words, *per_row.shape[2:]), fill, dtype=per_row.dtype)
        has = np.flatnonzero(self.owner_row >= 0)
        out[has] = per_row[self.owner_row[has], self.owner_pos[has]]
        return out

    def words_of_rows(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each row, (the words it owns, their first sub-word positions in the row)."""
        order = np.argsort(self.owner_row, kind="stable")
        order = order[self.owner_row[order] >= 0]
        bounds = np.searchsorted(self.owner_row[order], np.arange(len(self.rows) + 1))
        return [(order[a:b], self.owner_pos[order[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])]

    def by_sentence(self, per_word: np.ndarray) -> list[np.ndarray]:
        """Split (W, ...) word values into one array per sentence."""
        return [per_word[a:b] for a, b in zip(self.starts[:-1], self.starts[1:])]


def word_outputs(fn: Callable[[dict[str, torch.Tensor]], torch.Tensor], data: EncodedTags, tokenizer: Any,
                 bf16: bool, device: torch.device | str, batch_size: int = 128) -> np.ndarray:
    """(W, ...) of ``fn``'s token-level output (B, T, ...) at each word's first sub-word in its owning
    window; zeros for words with no sub-word."""
    out: np.ndarray | None = None
    owned = data.words_of_rows()
    for i, row in map_rows(fn, data, tokenizer, batch_size, bf16=bf16, device=device):
        if out is None:
            out = np.zeros((data.n_words, *row.shape[1:]), dtype=row.dtype)
        words, positions = owned[i]
        out[words] = row[positions]
    return out if out is not None else np.zeros((0,))


def plan_windows(counts: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Word ranges of at most ``budget`` sub-words (a longer single word is a window of its own, which
    the tokenizer truncates), each starting about half a window after the one before."""
    n = len(counts)
    if sum(counts) <= budget:
        return [(0, n)]
    windows, a = [], 0
    while True:
        b, used = a, 0
        while b < n and (b == a or used + counts[b] <= budget):
            used, b = used + counts[b], b + 1
        windows.append((a, b))
        if b >= n:
            return windows
        nxt, moved = a, 0
        while nxt < b and moved < used / 2:
            moved, nxt = moved + counts[nxt], nxt + 1
        a = max(nxt, a + 1)


def context(counts_cum: Sequence[int], a: int, b: int, w: int, n: int) -> int:
    """Sub-words of context word ``w`` has on its poorer side inside window [a, b) of an n-word sentence."""
    left = counts_cum[w] - counts_cum[a] if a > 0 else NO_EDGE
    right = counts_cum[b] - counts_cum[w + 1] if b < n else NO_EDGE
    return min(left, right)


def encode_tags(sentences: list[TaggedSentence], tokenizer: Any, labels: list[str] | None, max_length: int) -> EncodedTags:
    """Tokenise each sentence's words in windows of at most ``max_length`` tokens; attach word-aligned
    label ids when ``labels`` is given."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"tagging needs a fast (Rust) tokenizer to align sub-words with words; "
                          f"{type(tokenizer).__name__} is not one")
    pieces = _tokenize(tokenizer, [list(s.tokens) for s in sentences])  # whole sentences: most fit
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    counts = [_subword_counts(word_ids, len(s.tokens)) for (_, word_ids), s in zip(pieces, sentences)]
    windows: list[Window] = []
    for i, (row, _) in enumerate(pieces):
        spans = [(0, len(sentences[i].tokens))] if len(row["input_ids"]) <= max_length else plan_windows(counts[i], budget)
        windows += [Window(i, a, b) for a, b in spans]
    split = [w for w in windows if len(pieces[w.sentence][0]["input_ids"]) > max_length]
    cut = iter(_tokenize(tokenizer, [list(sentences[w.sentence].tokens[w.start:w.end]) for w in split], max_length))
    encoded = [pieces[w.sentence] if len(pieces[w.sentence][0]["input_ids"]) <= max_length else next(cut) for w in windows]
    return _assemble(sentences, windows, encoded, counts, labels)


def _tokenize(tokenizer: Any, words: list[list[str]], max_length: int | None = None) -> list[tuple[dict, list]]:
    """(row, word ids) per word list; no truncation unless ``max_length`` (a window of one huge word)."""
    if not words:
        return []
    enc = tokenizer(words, is_split_into_words=True, truncation=max_length is not None, max_length=max_length,
                    verbose=False)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return [({k: enc[k][i] for k in keys}, enc.word_ids(i)) for i in range(len(words))]


def _assemble(sentences: list[TaggedSentence], windows: list[Window], encoded: list[tuple[dict, list]],
              counts: list[list[int]], labels: list[str] | None) -> EncodedTags:
    """Rows with aligned labels, and for each word the row and position where it has the most context."""
    index = {lab: i for i, lab in enumerate(labels)} if labels is not None else None
    offsets = np.cumsum([0, *(len(s.tokens) for s in sentences)]).tolist()
    owner_row, owner_pos, best = ([-1] * offsets[-1] for _ in range(3))  # lists: per-word Python loop below
    cums = [np.cumsum([0, *c]).tolist() for c in counts]
    rows = []
    for r, (win, (enc_row, word_ids)) in enumerate(zip(windows, encoded)):
        sent, row = sentences[win.sentence], dict(enc_row)
        first = _first_positions(word_ids)
        if index is not None:
            row["labels"] = _aligned_labels(len(row["input_ids"]), first, sent.tags[win.start:win.end], index)
        rows.append(row)
        for local, pos in first.items():
            w = win.start + local
            score = context(cums[win.sentence], win.start, win.end, w, len(sent.tokens))
            g = offsets[win.sentence] + w
            if score > best[g]:
                best[g], owner_row[g], owner_pos[g] = score, r, pos
    word_labels = np.array([index[t] for s in sentences for t in s.tags]) if index is not None else None
    return EncodedTags(rows, sentences, windows, np.array(owner_row), np.array(owner_pos), word_labels)


def _subword_counts(word_ids: list[int | None], n_words: int) -> list[int]:
    counts = [0] * n_words
    for w in word_ids:
        if w is not None:
            counts[w] += 1
    return counts


def _first_positions(word_ids: list[int | None]) -> dict[int, int]:
    """{word index within the window: position of its first sub-word}."""
    first: dict[int, int] = {}
    for pos, w in enumerate(word_ids):
        if w is not None and w not in first:
            first[w] = pos
    return first


def _aligned_labels(length: int, first: dict[int, int], tags: Sequence[str], index: dict[str, int]) -> list[int]:
    labels = [IGNORE] * length
    for local, pos in first.items():
        labels[pos] = index[tags[local]]
    return labels
