"""Batched inference in length-sorted batches (least padding), results back in input order."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable, Iterator

import numpy as np
import torch
from transformers import DataCollatorWithPadding

from ctxlearn.train.encode import Encoded, batches_by_length


def bf16_available(device: torch.device | str = "cpu") -> bool:
    """bf16 matmuls that run at least as fast as fp32: native on CPUs with AVX512-BF16/AMX, and on
    CUDA devices that report support."""
    if torch.device(device).type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")() in {"AVX512", "AMX"}
                and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast(enabled: bool, device: torch.device | str = "cpu"):
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if enabled else nullcontext()


@torch.inference_mode()
def map_rows(fn: Callable[[dict[str, torch.Tensor]], torch.Tensor], data: Encoded, tokenizer: Any,
             batch_size: int = 128, bf16: bool = False, device: torch.device | str = "cpu") -> Iterator[tuple[int, np.ndarray]]:
    """Apply ``fn`` to padded batches; yields (row index, that row's fp32 output), in batch order.
    Token-level outputs keep the batch's padding: positions past the row's own length are filler."""
    collator = DataCollatorWithPadding(tokenizer)
    for idx in batches_by_length(data, batch_size):
        batch = collator([{k: v for k, v in data[i].items() if k != "labels"} for i in idx])
        with autocast(bf16, device):
            result = fn({k: v.to(device) for k, v in batch.items()}).float().cpu().numpy()
        yield from zip(idx, result)


def map_batches(fn: Callable[[dict[str, torch.Tensor]], torch.Tensor], data: Encoded, tokenizer: Any,
                batch_size: int = 128, bf16: bool = False, device: torch.device | str = "cpu") -> np.ndarray:
    """Apply ``fn`` to padded batches; returns the stacked fp32 outputs in the order of ``data``."""
    out: list[np.ndarray | None] = [None] * len(data)
    for i, row in map_rows(fn, data, tokenizer, batch_size, bf16, device):
        out[i] = row
    return np.stack(out)
