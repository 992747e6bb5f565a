"""What the server runs: an artifact behind a narrow interface, one engine per kind of task.

An engine says which input it takes (``texts``, ``pairs`` or ``tokens``) and maps a list of such
inputs to one JSON-ready prediction each. It is called from one worker thread at a time.
A tagging engine registers itself under the manifest's ``task`` name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

from pydantic import BaseModel

from ctxlearn.artifact import read_manifest
from ctxlearn.data.example import Example
from ctxlearn.registry import Registry
from ctxlearn.serve.schema import ClassifyResponse


class Engine(Protocol):
    name: str
    accepts: str  # "texts", "pairs" or "tokens"
    response_model: type[BaseModel]

    def run(self, items: list) -> list[dict[str, Any]]:
        """One prediction per input, in order."""


ENGINES: Registry[Callable[[Path], Engine]] = Registry("serving engine for task")


@ENGINES.register("classification")
class ClassifierEngine:
    """Any run folder ``open_predictor`` reads: trained classifiers (fp32, bf16 or int8 exports) and icl runs."""

    response_model = ClassifyResponse

    def __init__(self, folder: Path) -> None:
        from ctxlearn.predict import open_predictor

        self.predictor = open_predictor(folder)
        self.name = Path(folder).resolve().name
        self.accepts = "pairs" if self.predictor.fields.text_pair else "texts"
        self.labels: list[str] = list(self.predictor.labels)

    def run(self, items: list) -> list[dict[str, Any]]:
        examples = [Example(it[0], "", it[1]) if isinstance(it, tuple) else Example(it, "") for it in items]
        probs = self.predictor.predict_proba(examples)
        return [{"label": self.labels[int(p.argmax())], "probabilities": dict(zip(self.labels, map(float, p)))}
                for p in probs]


def open_engine(folder: str | Path) -> Engine:
    """The engine for a run folder's task (classification when the manifest names none)."""
    task = read_manifest(Path(folder)).get("task", "classification")
    return ENGINES.get(task)(Path(folder))
