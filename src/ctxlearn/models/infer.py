"""Batched inference in length-sorted batches (least padding), results back in input order."""
from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any, Callable, Iterator

import numpy as np
import torch
from transformers import DataCollatorWithPadding

from ctxlearn.train.dist import say, so_far
from ctxlearn.train.encode import Encoded, batches_by_length

PROGRESS_FROM = 4096  # rows from which a pass inside ``progress`` reports how far it is
_PROGRESS: ContextVar[str | None] = ContextVar("ctxlearn_progress", default=None)


@contextmanager
def progress(what: str) -> Iterator[None]:
    """Passes of ``map_rows`` inside say how far they are ("train features: 4096/67349 rows, 12 s so far,
    ETA 3.1 min"; ``Progress``) when they have ``PROGRESS_FROM`` rows or more: a frozen backbone's
    features of a large training set take minutes on a CPU."""
    token = _PROGRESS.set(what)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def bf16_available(device: torch.device | str = "cpu") -> bool:
    """bf16 matmuls that run at least as fast as fp32: native on CPUs with AVX512-BF16/AMX, and on
    CUDA devices that report support."""
    if torch.device(device).type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")() in {"AVX512", "AMX"}
                and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast(enabled: bool, device: torch.device | str = "cpu"):
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if enabled else nullcontext()


class Progress:
    """Progress lines of one pass over ``data``: one every ``EVERY_S`` seconds and one at the end. The ETA
    goes by tokens, not rows: batches run from the shortest rows to the longest."""
    EVERY_S = 10.0

    def __init__(self, what: str, data: Encoded) -> None:
        self.what, self.lengths = what, [len(r["input_ids"]) for r in data.rows]
        self.total, self.rows, self.tokens = sum(self.lengths), 0, 0
        self.start = self.last = time.time()

    def done(self, idx: list[int]) -> None:
        self.rows, self.tokens = self.rows + len(idx), self.tokens + sum(self.lengths[i] for i in idx)
        now = time.time()
        if now - self.last >= self.EVERY_S or self.rows == len(self.lengths):
            self.last = now
            say(f"{self.what}: {self.rows}/{len(self.lengths)} rows, "
                f"{so_far(now - self.start, self.tokens, self.total - self.tokens)}")


@torch.inference_mode()
def map_rows(fn: Callable[[dict[str, torch.Tensor]], torch.Tensor], data: Encoded, tokenizer: Any,
             batch_size: int = 128, bf16: bool = False, device: torch.device | str = "cpu") -> Iterator[tuple[int, np.ndarray]]:
    """Apply ``fn`` to padded batches; yields (row index, that row's fp32 output), in batch order.
    Token-level outputs keep the batch's padding: positions past the row's own length are filler."""
    collator = DataCollatorWithPadding(tokenizer)
    report = Progress(_PROGRESS.get(), data) if _PROGRESS.get() and len(data) >= PROGRESS_FROM else None
    for idx in batches_by_length(data, batch_size):
        batch = collator([{k: v for k, v in data[i].items() if k != "labels"} for i in idx])
        with autocast(bf16, device):
            result = fn({k: v.to(device) for k, v in batch.items()}).float().cpu().numpy()
        yield from zip(idx, result)
        if report:
            report.done(idx)


def map_batches(fn: Callable[[dict[str, torch.Tensor]], torch.Tensor], data: Encoded, tokenizer: Any,
                batch_size: int = 128, bf16: bool = False, device: torch.device | str = "cpu") -> np.ndarray:
    """Apply ``fn`` to padded batches; returns the stacked fp32 outputs in the order of ``data``."""
    out: list[np.ndarray | None] = [None] * len(data)
    for i, row in map_rows(fn, data, tokenizer, batch_size, bf16, device):
        out[i] = row
    return np.stack(out)
