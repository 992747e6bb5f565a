"""Runs launched on several processes (``torchrun --nproc_per_node N`` or ``accelerate launch``): every
process trains, the Trainer wrapping the model in DistributedDataParallel, and the main one alone
owns the run folder, evaluates and reports. A plain ``ctxlearn train`` is one process and the main one."""
from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_RECORDS: list[list[str]] = []  # the open ``recorded_warnings`` lists: each warning given is appended to every one
PACKAGE = str(Path(__file__).resolve().parents[1])  # warnings raised from here are ctxlearn's own (a reader's)


def duration(seconds: float) -> str:
    """Seconds for a progress line: "42 s", or "3.5 min" from 90 s on."""
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def so_far(spent: float, done: int, left: int) -> str:
    """"3.5 min so far, ETA 42 s": ``done`` units took ``spent`` seconds, ``left`` remain at the same pace."""
    return f"{duration(spent)} so far, ETA {duration(spent / done * left)}"


def part_progress(done: int, total: int, kept: int, spent: float, verb: str, where: str) -> str:
    """"512/520 scored (256 read back from OUT.partial), 42 s so far, ETA 1 s" after a part of long work:
    ``kept`` of the ``done`` units were read back from ``where``, not worked on, so the pace is that of
    the ``done - kept`` units this process did in ``spent`` seconds."""
    fresh = done - kept
    pace = so_far(spent, fresh, total - done) if fresh else "ETA after the next part"
    read = f" ({kept} read back from {where})" if kept else ""
    return f"{done}/{total} {verb}{read}, {pace}"


def world_size() -> int:
    """How many processes train together: a launcher's WORLD_SIZE, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched() -> bool:
    """Whether a launcher started this process as one of several (it sets WORLD_SIZE)."""
    return world_size() > 1


def launch_command(processes: int) -> str:
    """How a run of ``processes`` processes is started again: the launcher's line in front of the module."""
    return f"torchrun --nproc_per_node {processes} -m ctxlearn" if processes > 1 else "ctxlearn"


def is_main() -> bool:
    """The process that writes and reports: rank 0 (launchers set RANK before the process starts)."""
    return int(os.environ.get("RANK", "0")) == 0


def say(msg: str) -> None:
    """A progress line on stderr, once per run: a launched run reports from its main process only."""
    if is_main():
        print(f"[ctxlearn] {msg}", file=sys.stderr, flush=True)


def warn(msg: str) -> None:
    """A warning line on stderr, once per run, worded as the CLI words errors (``ctxlearn: error:``) and
    the warnings of ctxlearn's readers (``ctxlearn: warning:``)."""
    for notes in _RECORDS:
        _note(notes, msg)
    if is_main():
        print(f"ctxlearn: warning: {msg}", file=sys.stderr, flush=True)


def raised_by_ctxlearn(filename: str) -> bool:
    """Whether a warning raised at ``filename`` is ctxlearn's own (a reader's: rows skipped, tags repaired)."""
    return str(Path(filename).resolve()).startswith(PACKAGE)


@contextmanager
def recorded_warnings() -> Iterator[list[str]]:
    """The warnings given while inside, in order, each once, as they are printed: ``warn``'s, and the ones
    ctxlearn's readers raise with ``warnings.warn`` (rows skipped, tags repaired), so that a run's report keeps
    them. Entering ``catch_warnings`` forgets which warnings Python has shown once already, so a second run in
    one process shows, and keeps, its readers' warnings too."""
    notes: list[str] = []

    with warnings.catch_warnings():  # restores showwarning on the way out
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, *rest: object) -> None:
            if raised_by_ctxlearn(filename):
                _note(notes, str(message))
            shown(message, category, filename, lineno, *rest)

        _RECORDS.append(notes)
        warnings.showwarning = show
        try:
            yield notes
        finally:
            _RECORDS.remove(notes)


def _note(notes: list[str], msg: str) -> None:
    """Keep ``msg`` once: a data file read twice in a run (its task, then its splits) warns twice alike."""
    if msg not in notes:
        notes.append(msg)


def join() -> None:
    """Join the launched processes' group (gloo on CPU, nccl on GPUs), as the Trainer's own arguments
    would on first use, so that the run can wait for its main process before the Trainer exists."""
    if launched():
        import torch
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available())


def any_process(flag: bool) -> bool:
    """Whether ``flag`` holds in any of the launched processes (each calls this at the same point; a plain
    run's own flag): a stop one of them was asked for is then made by all at one step."""
    if not launched():
        return flag
    import torch  # here, as in join: the CLI reads is_main from this module without loading torch

    device = f"cuda:{torch.cuda.current_device()}" if torch.distributed.get_backend() == "nccl" else "cpu"
    held = torch.tensor([int(flag)], device=device)
    torch.distributed.all_reduce(held, op=torch.distributed.ReduceOp.MAX)
    return bool(held.item())


def wait_for_everyone() -> None:
    if launched():
        from accelerate import PartialState

        PartialState().wait_for_everyone()
