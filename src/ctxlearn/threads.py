"""A run's own CPU thread count, given back when the run returns."""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])


def on_own_threads(run: F) -> F:
    """``run(cfg, ...)`` on ``cfg.threads`` torch threads (0: leave them), restoring the caller's count
    after: a notebook, a benchmark or a test that runs one run keeps the threads it had."""
    @functools.wraps(run)
    def wrapped(cfg: Any, *args: Any, **kwargs: Any) -> Any:
        before = torch.get_num_threads()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        try:
            return run(cfg, *args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapped  # type: ignore[return-value]
