"""Classification: one label per text (or text pair); one output row per example."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from transformers import DataCollatorWithPadding

from ctxlearn.data import Splits
from ctxlearn.data.splits import copy_key, splits_of
from ctxlearn.data.inspect import conflicting_labels, label_warnings, lone_classes, missing_classes, small_splits
from ctxlearn.evaluate import classification_metrics, write_report
from ctxlearn.evaluate.decision import Threshold, decide
from ctxlearn.evaluate.report import confident_errors
from ctxlearn.models.classifier import EncoderClassifier
from ctxlearn.models.infer import map_batches
from ctxlearn.tasks.base import TASKS
from ctxlearn.train.encode import Encoded, encode, per_text, text_labels
from ctxlearn.train.features import features


def predict_proba(model: EncoderClassifier, data: Encoded, tokenizer: Any, bf16: bool) -> np.ndarray:
    """Class probabilities (N, C) in the order of ``data``."""
    return softmax(class_logits(model, data, tokenizer, bf16))


def class_logits(model: nn.Module, data: Encoded, tokenizer: Any, bf16: bool, batch_size: int = 128) -> np.ndarray:
    """(T, C) logits of each text: of its one row, or averaged over its windows."""
    model.eval()
    rows = map_batches(lambda b: model(**b).logits, data, tokenizer, batch_size, bf16, next(model.parameters()).device)
    return per_text(data, rows)


def softmax(logits: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(logits).float(), -1).numpy()


def write_scored(folder: Path, examples: list, probs: np.ndarray, metrics: dict[str, Any], manifest: dict[str, Any],
                 labels: list[str], threshold: Threshold | None = None) -> None:
    """test_predictions.jsonl and the report files (with the surest errors) of scored test ``examples``: a
    trained run's, an icl run's, an ``eval --out`` folder's; labelled by ``threshold`` where one is given."""
    pred = decide(probs, labels, threshold)
    write_predictions(folder / "test_predictions.jsonl", examples, probs, labels, pred)
    write_report(folder, metrics, manifest, labels, confident_errors(examples, probs, labels, pred=pred))


def write_predictions(path: Path, examples: list, probs: np.ndarray, labels: list[str], pred: np.ndarray) -> None:
    """Per-example test predictions, for error analysis (full-precision probabilities)."""
    with path.open("w", encoding="utf-8") as fh:
        for ex, p, c in zip(examples, probs, pred):
            pair = {"text_pair": ex.text_pair} if ex.text_pair is not None else {}  # a pair's second text too
            row = {"line": ex.line, "text": ex.text, **pair, "gold": ex.label, "pred": labels[int(c)],
                   "probs": [float(v) for v in p]}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


class Classification:
    name = "classification"
    metric = "accuracy"
    summary_keys = ("accuracy", "macro_f1", "micro_f1", "ece")

    def load(self, cfg: Any) -> Splits:
        return splits_of(cfg, cfg.seed)

    def describe(self, splits: Splits) -> str:
        return f"train {len(splits.train)}, dev {len(splits.dev)}, test {len(splits.test)}; labels {splits.labels}"

    def warnings(self, splits: Splits) -> list[str]:
        return (label_warnings(splits.labels) + conflicting_labels(splits.train, copy_key(splits.copies))
                + lone_classes(splits.train) + small_splits(splits) + missing_classes(splits))

    def make_model(self, backbone: nn.Module, n_labels: int, pooling: str) -> nn.Module:
        return EncoderClassifier(backbone, n_labels, pooling=pooling)

    def encode(self, items: list, tokenizer: Any, labels: list[str] | None, max_length: int,
               long_inputs: str = "truncate") -> Encoded:
        return encode(items, tokenizer, labels, max_length, long_inputs)

    def collator(self, tokenizer: Any) -> Callable:
        return DataCollatorWithPadding(tokenizer)

    def targets(self, data: Encoded) -> np.ndarray:
        return text_labels(data)

    def logits(self, model: nn.Module, data: Encoded, tokenizer: Any, bf16: bool) -> np.ndarray:
        return class_logits(model, data, tokenizer, bf16)

    def features(self, model: nn.Module, data: Encoded, tokenizer: Any, bf16: bool, key: str | None) -> np.ndarray:
        return features(model, data, tokenizer, bf16, key)

    def trainer_rows(self, predictions: np.ndarray, data: Encoded) -> np.ndarray:
        return per_text(data, predictions).argmax(-1)  # the Trainer keeps a classifier's logits (``reduce_logits``)

    def score(self, pred: np.ndarray, data: Encoded, labels: list[str]) -> float:
        return float((pred == self.targets(data)).mean())

    def predictions(self, logits: np.ndarray, data: Encoded, labels: list[str]) -> np.ndarray:
        return softmax(logits)

    def metrics(self, predictions: np.ndarray, data: Encoded, labels: list[str]) -> dict[str, Any]:
        return classification_metrics(self.targets(data), predictions, labels)

    def write(self, folder: Path, splits: Splits, test_predictions: np.ndarray, metrics: dict[str, Any],
              manifest: dict[str, Any]) -> None:
        write_scored(folder, splits.test, test_predictions, metrics, manifest, splits.labels)

    def headline(self, metrics: dict[str, Any]) -> str:
        return f"test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}"


TASKS.register("classification")(Classification())
