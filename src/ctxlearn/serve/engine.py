"""What the server runs: an artifact behind a narrow interface, one engine per kind of task.

An engine says which input it takes (``texts``, ``pairs`` or ``tokens``) and maps a list of such
inputs to one JSON-ready prediction each. It is called from one worker thread at a time.
Engines register under the manifest's ``task`` name (classification, tagging).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
from pydantic import BaseModel

from ctxlearn.artifact import read_manifest
from ctxlearn.data.example import TaggedSentence
from ctxlearn.evaluate.decision import decide
from ctxlearn.registry import Registry
from ctxlearn.serve.schema import ClassifyResponse, TagResponse
from ctxlearn.tasks.tagging import entities


class Engine(Protocol):
    name: str
    accepts: str  # "texts", "pairs" or "tokens": what the model reads
    response_model: type[BaseModel]
    # an engine may also take another kind, which it turns into its own: a tagger splits ``texts`` into words
    # a classifier's may have a ``threshold`` (``evaluate.decision.Threshold``): how it decides labels

    def run(self, items: list) -> list[dict[str, Any]]:
        """One prediction per input, in order."""


ENGINES: Registry[Callable[[Path, str | None], Engine]] = Registry("serving engine for task")


@ENGINES.register("classification")
class ClassifierEngine:
    """Any run folder ``open_predictor`` reads: trained classifiers (fp32, bf16 or int8 exports) and icl runs."""

    response_model = ClassifyResponse

    def __init__(self, folder: Path, threshold: str | None = None) -> None:
        from ctxlearn.predict import open_predictor

        self.predictor = open_predictor(folder, threshold=threshold)
        self.name = Path(folder).resolve().name
        self.accepts = "pairs" if self.predictor.fields.reads_pairs else "texts"
        self.labels: list[str] = list(self.predictor.labels)
        self.threshold = self.predictor.threshold

    def run(self, items: list) -> list[dict[str, Any]]:
        examples = [self.predictor.as_example(it, i) for i, it in enumerate(items)]  # shape checked by the app
        probs: list[Any] = [None] * len(examples)
        for group in length_groups([len(ex.text) + len(ex.text_pair or "") for ex in examples]):
            for i, p in zip(group, self.predictor.predict_proba([examples[i] for i in group])):
                probs[i] = p
        picked = decide(np.stack(probs), self.labels, self.threshold)
        return [{"label": self.labels[int(c)], "probabilities": dict(zip(self.labels, map(float, p)))}
                for c, p in zip(picked, probs)]


@ENGINES.register("tagging")
class TaggerEngine:
    """Tagging run folders: pre-split words (``tokens``) or raw texts (``texts``, split into words as
    ``predict`` splits a .txt line) in; the words, their BIO tags and entity spans out, with character
    offsets into the text as sent (into the words joined by single spaces, for ``tokens``)."""

    response_model = TagResponse
    accepts = "tokens"
    also_accepts = ("texts",)

    def __init__(self, folder: Path, threshold: str | None = None) -> None:
        from ctxlearn.predict import open_predictor
        from ctxlearn.predict_tagging import sentence_of

        self.predictor, self.sentence_of = open_predictor(folder, threshold=threshold), sentence_of  # refuses one
        self.name = Path(folder).resolve().name

    def run(self, items: list) -> list[dict[str, Any]]:
        sentences = [self.sentence_of(it) if isinstance(it, str) else TaggedSentence(tuple(it), (), (0,) * len(it))
                     for it in items]
        tags = self.predictor.predict(sentences).tags
        return [{"tokens": list(s.tokens), "tags": t, "entities": entities(s, t)} for s, t in zip(sentences, tags)]


def takes(engine: Engine) -> tuple[str, ...]:
    """The request inputs ``engine`` answers: its own kind first, then any it converts (``also_accepts``)."""
    return (engine.accepts, *getattr(engine, "also_accepts", ()))


def length_groups(lengths: list[int], call_cost: int = 256) -> list[list[int]]:
    """Indices split into groups of similar length, to run one model call each, at the least padded cost.

    A served batch mixes requests of any length; padded to the longest, random batches of 16 SST-2
    sentences held about 1.9x their real tokens. The cost of a group is taken as its size x its longest
    length, plus ``call_cost`` per call: a forward pass's fixed cost, roughly that of 30 to 120 padded
    MiniLM tokens at one thread by batch-1 against batch-16 timings (so 256 characters). Lengths are
    characters, a proxy for tokens that costs nothing. Exact by dynamic programming over the sorted
    lengths (n^2, n = one batch). On random batches of 16 SST-2 sentences this ran about 10% (bf16) to
    30% (fp32) more texts per CPU-second than one padded call (a busy shared machine: rough figures).
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    best, cut = [0.0] + [float("inf")] * len(order), [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):  # best[j]: cheapest way to run the j shortest
        for i in range(j):
            cost = best[i] + (j - i) * lengths[order[j - 1]] + call_cost
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], len(order)
    while j:
        groups.append(order[cut[j]:j])
        j = cut[j]
    return groups[::-1]


def open_engine(folder: str | Path, threshold: str | None = None) -> Engine:
    """The engine for a run folder's task (classification when the manifest names none); ``threshold``
    (``CLASS=P``) labels a classifier's texts as ``predict --threshold`` does."""
    task = read_manifest(Path(folder)).get("task", "classification")
    return ENGINES.get(task)(Path(folder), threshold)
