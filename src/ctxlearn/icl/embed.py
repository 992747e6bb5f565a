"""Sentence vectors for nearest-neighbour demonstration selection: a registered encoder (``minilm``),
mean pooling, unit length; cached on disk by the examples' content, so a training pool is embedded once."""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ctxlearn.cache import cached_array, kind_dir
from ctxlearn.data import Example
from ctxlearn.data.splits import content_hash
from ctxlearn.models.classifier import pool
from ctxlearn.models.infer import map_batches, progress
from ctxlearn.models.registry import load_encoder, resolve_model
from ctxlearn.train.encode import encode


class Embedder:
    """Callable: examples -> (N, D) unit vectors. Pairs are encoded as the encoder's text pairs."""

    def __init__(self, model: str = "minilm", max_length: int = 128, batch_size: int = 128) -> None:
        self.model, self.max_length, self.batch_size = model, max_length, batch_size
        self._loaded: tuple[Any, Any] | None = None
        self._source = resolve_model(model)

    def __call__(self, examples: list[Example]) -> np.ndarray:
        key = hashlib.sha256(f"{self._source.path}|mean|{self.max_length}|{content_hash(examples)}".encode()).hexdigest()
        return cached_array(key[:32], lambda: self._embed(examples), kind_dir("icl-index"))

    def _embed(self, examples: list[Example]) -> np.ndarray:
        if self._loaded is None:
            backbone, tokenizer = load_encoder(self._source)
            self._loaded = backbone.eval(), tokenizer
        backbone, tokenizer = self._loaded
        data = encode(examples, tokenizer, None, self.max_length)
        with progress("embeddings for nearest-neighbour demonstrations"):
            vectors = map_batches(lambda b: pool(backbone(**b).last_hidden_state, b["attention_mask"], "mean"),
                                  data, tokenizer, batch_size=self.batch_size)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
