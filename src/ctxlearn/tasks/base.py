"""The task interface and its registry.

A task says what one row of the model's output is (an example for classification, a word for
tagging) and everything around that: how data is read and encoded, which head the backbone gets,
how rows become predictions, metrics and files. ``train.run`` does the rest the same way for all.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
from torch import nn

from ctxlearn.errors import ConfigError
from ctxlearn.registry import Registry, did_you_mean
from ctxlearn.train.encode import Encoded


class Task(Protocol):
    name: str
    metric: str  # the dev metric that picks the best checkpoint and the head's C ("accuracy", "f1")
    summary_keys: tuple[str, ...]  # metrics ``--json`` reports as dev_<key> and test_<key>

    def load(self, cfg: Any) -> Any:
        """Checked train/dev/test splits (``.train``, ``.dev``, ``.test``, ``.labels``, ``.sources``,
        ``.hashes``, ``.cap_train``) from the config's data fields."""

    def describe(self, splits: Any) -> str:
        """One line about the data, for the log."""

    def warnings(self, splits: Any) -> list[str]:
        """What might make the scores on these splits mislead, said before training (``data.inspect``)."""

    def make_model(self, backbone: nn.Module, n_labels: int, pooling: str) -> nn.Module:
        """The backbone with this task's head (``.backbone``, ``.head``, ``.features``)."""

    def encode(self, items: list, tokenizer: Any, labels: list[str] | None, max_length: int,
               long_inputs: str = "truncate") -> Encoded:
        """Rows for the model; label ids attached when ``labels`` is given. ``long_inputs`` says how an
        input longer than ``max_length`` is read: truncated, or in windows (``train.encode``)."""

    def collator(self, tokenizer: Any) -> Callable:
        """Pads a list of rows into a batch (labels too)."""

    def targets(self, data: Encoded) -> np.ndarray:
        """(R,) gold label id of each output row."""

    def logits(self, model: nn.Module, data: Encoded, tokenizer: Any, bf16: bool) -> np.ndarray:
        """(R, C) logits of each output row, through the whole model."""

    def features(self, model: nn.Module, data: Encoded, tokenizer: Any, bf16: bool, key: str | None) -> np.ndarray:
        """(R, H) head inputs of each output row from the frozen backbone, cached under ``key``."""

    def trainer_rows(self, predictions: np.ndarray, data: Encoded) -> np.ndarray:
        """(R,) predicted label ids of each output row (a text, a word) from what the Trainer gathered for
        each encoded row: a classifier's logits (N, C), a tagger's argmax ids (N, T) (``train.hf.reduce_logits``)."""

    def score(self, pred: np.ndarray, data: Encoded, labels: list[str]) -> float:
        """The dev ``metric`` from predicted label ids of each output row."""

    def predictions(self, logits: np.ndarray, data: Encoded, labels: list[str]) -> Any:
        """What is reported and written from (R, C) logits: class probabilities, or tags per sentence."""

    def metrics(self, predictions: Any, data: Encoded, labels: list[str]) -> dict[str, Any]:
        """Metrics of one split (a dict with at least ``n`` and every ``summary_keys`` entry)."""

    def write(self, folder: Path, splits: Any, test_predictions: Any, metrics: dict[str, Any],
              manifest: dict[str, Any]) -> None:
        """test_predictions.jsonl, metrics.json, report.md and the confusion files."""

    def headline(self, metrics: dict[str, Any]) -> str:
        """The test result in a few words, for the log."""


TASKS: Registry[Task] = Registry("task")


def task_for(name: str, data: str, text_field: str = "text", label_field: str = "label") -> Task:
    """The task named, or for ``auto`` the one the data looks like (see ``is_tagging_data``)."""
    if name == "auto":
        from ctxlearn.data.tagged_splits import is_tagging_data

        name = "tagging" if is_tagging_data(data, text_field, label_field) else "classification"
    if name not in TASKS:
        choices = ["auto", *TASKS.names()]
        raise ConfigError(f"unknown task {name!r}{did_you_mean(name, choices)}; choose {', '.join(choices)}")
    return TASKS.get(name)
