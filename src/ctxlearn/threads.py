"""CPU threads: a run's own count, given back when the run returns, and the ``--threads`` flag of the
commands that load a run. torch is imported where it is used: the CLI imports this at every start-up."""
from __future__ import annotations

import argparse
import functools
from typing import Any, Callable, TypeVar

from ctxlearn.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


def on_own_threads(run: F) -> F:
    """``run(cfg, ...)`` on ``cfg.threads`` torch threads (0: leave them), restoring the caller's count
    after: a notebook, a benchmark or a test that runs one run keeps the threads it had."""
    @functools.wraps(run)
    def wrapped(cfg: Any, *args: Any, **kwargs: Any) -> Any:
        import torch

        before = torch.get_num_threads()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        try:
            return run(cfg, *args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapped  # type: ignore[return-value]


def threads_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", dest="torch_threads", type=int, default=0, metavar="N",
                   help="CPU threads for torch (default 0: torch's own, all cores or OMP_NUM_THREADS where set)")


def use_threads(args: argparse.Namespace) -> None:
    """``--threads`` of the commands that load a run (predict, eval, export), which train and serve set themselves."""
    n = getattr(args, "torch_threads", 0)
    if n < 0:
        raise ConfigError(f"--threads must be 0 (torch's own count) or more, not {n}")
    if n:
        import torch

        torch.set_num_threads(n)
