"""Tagging: one BIO tag per word (named entities, slots); one output row per word.

Words are encoded in windows (``train.windows``) and each word is read from its first sub-word in
the window where it has the most context. Predictions are valid BIO: the reported tags are the most
probable sequence in which every I-X follows a B-X or I-X (``constrained_decode``); the dev metric
during training reads the plain argmax, with each I-X that continues no X entity starting one, as
conlleval reads it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from torch import nn
from transformers import DataCollatorForTokenClassification

from ctxlearn.cache import cached_array, kind_dir
from ctxlearn.config import split_settings, to_dict
from ctxlearn.data.example import TaggedSentence
from ctxlearn.data.inspect import case_variants, conflicting_tags, joined_sentences, missing_types, small_tagged
from ctxlearn.data.tagged import tag_options
from ctxlearn.data.tagged_splits import TaggedSplits, load_tagged_splits
from ctxlearn.data.tags import entity_spans, repair_bio
from ctxlearn.evaluate.entities import entity_metrics
from ctxlearn.evaluate.report import entity_errors, write_tagging_report
from ctxlearn.models.tagger import IGNORE, EncoderTagger
from ctxlearn.tasks.base import TASKS
from ctxlearn.tasks.classification import softmax
from ctxlearn.train.windows import EncodedTags, encode_tags, word_outputs


@dataclass
class TagPredictions:
    """Predicted BIO tags of each sentence, and the probability of each predicted tag."""

    tags: list[list[str]]
    scores: list[np.ndarray]


def decode(pred: np.ndarray, data: EncodedTags, labels: list[str]) -> list[list[str]]:
    """Label ids of each word (W,) -> valid BIO tags per sentence (``through_unseen`` tags a word with no
    sub-word)."""
    return [through_unseen(repair_bio([labels[i] for i in ids[seen]]), seen)[0]
            for ids, seen in zip(data.by_sentence(pred), data.by_sentence(data.owner_row >= 0))]


def through_unseen(seen_tags: list[str], seen: np.ndarray) -> tuple[list[str], list[int]]:
    """The tags of every word of a sentence from the valid BIO tags of the words with a sub-word (``seen``),
    and for each word the seen word its tag is taken from (-1: none). A word the tokenizer drops (a lone
    zero-width space or variation selector) is invisible to the model: inside an entity that goes on past it
    (the next seen word is I-X) it is I-X, taken from that word, else O. Tagged O, it split "tom \u200b
    hanks" and left "hanks" an orphan."""
    tags, source = ["O"] * len(seen), [-1] * len(seen)
    for w, tag in zip(np.flatnonzero(seen), seen_tags):
        tags[w], source[w] = tag, int(w)
    after = -1  # the next seen word, walking back
    for w in reversed(range(len(seen))):
        if seen[w]:
            after = w
        elif after >= 0 and tags[after].startswith("I-"):
            tags[w], source[w] = tags[after], after
    return tags, source


def allowed_transitions(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(C,) which tags may start a sentence, and (C, C) which tag may follow which, in BIO."""
    inside = np.array([lab.startswith("I-") for lab in labels])
    start = ~inside
    follows = np.ones((len(labels), len(labels)), dtype=bool)  # [previous, next]
    for j, lab in enumerate(labels):
        if inside[j]:
            follows[:, j] = [prev[2:] == lab[2:] and prev != "O" for prev in labels]
    return start, follows


def constrained_decode(log_probs: np.ndarray, labels: list[str]) -> list[int]:
    """The label ids of the most probable valid BIO sequence, by Viterbi over (n, C) log-probabilities.
    Hand-written: the taggers have no CRF layer whose decoder could be borrowed; 20 lines of numpy do."""
    start, follows = allowed_transitions(labels)
    penalty = np.where(follows, 0.0, -np.inf)  # (C, C)
    score = np.where(start, log_probs[0], -np.inf)  # (C,)
    back = np.zeros(log_probs.shape, dtype=int)
    for t in range(1, len(log_probs)):
        total = score[:, None] + penalty  # (C prev, C next)
        back[t] = total.argmax(0)
        score = total.max(0) + log_probs[t]
    best = [int(score.argmax())]
    for t in range(len(log_probs) - 1, 0, -1):
        best.append(int(back[t, best[-1]]))
    return best[::-1]


def entities(sentence: TaggedSentence, tags: list[str]) -> list[dict[str, Any]]:
    """Entity spans with type, text and character offsets (``TaggedSentence.char_offsets``), and the
    token range (``tokens``: first, one past the last)."""
    text, offsets = sentence.char_offsets()
    out = []
    for kind, a, b in entity_spans(tags):
        start, end = offsets[a][0], offsets[b - 1][1]
        out.append({"type": kind, "text": text[start:end], "start": start, "end": end, "tokens": [a, b]})
    return out


def word_logits(model: nn.Module, data: EncodedTags, tokenizer: Any, bf16: bool, batch_size: int = 128) -> np.ndarray:
    """(W, C) logits of each word, through the whole model."""
    model.eval()
    return word_outputs(lambda b: model(**b).logits, data, tokenizer, bf16, next(model.parameters()).device, batch_size)


class Tagging:
    name = "tagging"
    metric = "f1"
    summary_keys = ("f1", "precision", "recall", "macro_f1")

    def load(self, cfg: Any) -> TaggedSplits:
        return load_tagged_splits(cfg.data, tag_options(to_dict(cfg)), **split_settings(to_dict(cfg)))

    def describe(self, splits: TaggedSplits) -> str:
        return (f"train {len(splits.train)}, dev {len(splits.dev)}, test {len(splits.test)} sentences; "
                f"{splits.scheme} tags read as BIO; entity types {splits.types}")

    def warnings(self, splits: TaggedSplits) -> list[str]:
        return (case_variants(splits.types, "entity types", "types") + small_tagged(splits) + missing_types(splits)
                + conflicting_tags(splits.train) + joined_sentences(splits))

    def make_model(self, backbone: nn.Module, n_labels: int, pooling: str) -> nn.Module:
        return EncoderTagger(backbone, n_labels)

    def encode(self, items: list, tokenizer: Any, labels: list[str] | None, max_length: int,
               long_inputs: str = "windows") -> EncodedTags:
        return encode_tags(items, tokenizer, labels, max_length)  # a long sentence is always read in windows

    def collator(self, tokenizer: Any) -> Callable:
        return DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE)

    def targets(self, data: EncodedTags) -> np.ndarray:
        return data.word_labels

    def logits(self, model: nn.Module, data: EncodedTags, tokenizer: Any, bf16: bool) -> np.ndarray:
        return word_logits(model, data, tokenizer, bf16)

    def features(self, model: nn.Module, data: EncodedTags, tokenizer: Any, bf16: bool, key: str | None) -> np.ndarray:
        def compute() -> np.ndarray:
            model.eval()
            return word_outputs(lambda b: model.features(**b), data, tokenizer, bf16, next(model.parameters()).device)

        return cached_array(key and f"{key}-words", compute, kind_dir("features"))

    def trainer_rows(self, predictions: np.ndarray, data: EncodedTags) -> np.ndarray:
        return data.per_word(predictions)

    def score(self, pred: np.ndarray, data: EncodedTags, labels: list[str]) -> float:
        gold = [s.tags for s in data.sentences]
        return entity_metrics(gold, decode(pred, data, labels), [])["f1"]

    def predictions(self, logits: np.ndarray, data: EncodedTags, labels: list[str]) -> TagPredictions:
        tags, scores, index = [], [], {lab: i for i, lab in enumerate(labels)}
        for p, seen in zip(data.by_sentence(softmax(logits)), data.by_sentence(data.owner_row >= 0)):
            ids = constrained_decode(np.log(np.maximum(p[seen], 1e-30)), labels) if seen.any() else []
            sentence, source = through_unseen([labels[i] for i in ids], seen)
            tags.append(sentence)  # a word with no sub-word scores as the word its tag is taken from, O as 1
            scores.append(np.array([p[w, index[t]] if w >= 0 else 1.0 for t, w in zip(sentence, source)]))
        return TagPredictions(tags, scores)

    def metrics(self, predictions: TagPredictions, data: EncodedTags, labels: list[str]) -> dict[str, Any]:
        types = sorted({lab[2:] for lab in labels if lab != "O"})
        return entity_metrics([s.tags for s in data.sentences], predictions.tags, types)

    def write(self, folder: Path, splits: TaggedSplits, test_predictions: TagPredictions, metrics: dict[str, Any],
              manifest: dict[str, Any]) -> None:
        write_tag_predictions(folder / "test_predictions.jsonl", splits.test, test_predictions)
        errors = entity_errors(splits.test, test_predictions.tags, test_predictions.scores)
        write_tagging_report(folder, metrics, manifest, errors)

    def headline(self, metrics: dict[str, Any]) -> str:
        return f"test entity F1 {metrics['f1']:.4f} (precision {metrics['precision']:.4f}, recall {metrics['recall']:.4f})"


def write_tag_predictions(path: Path, sentences: list[TaggedSentence], predictions: TagPredictions) -> None:
    """Per-sentence predictions: tokens, gold and predicted tags, each predicted tag's probability, and
    the predicted entities with character offsets."""
    with path.open("w", encoding="utf-8") as fh:
        for s, tags, scores in zip(sentences, predictions.tags, predictions.scores):
            row = {"line": s.line, "tokens": list(s.tokens), "gold": list(s.tags), "pred": tags,
                   "scores": [float(v) for v in scores], "entities": entities(s, tags)}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


TASKS.register("tagging")(Tagging())
