"""Cells of a comparison: one (method, seed) run each, in its own process (so peak memory is the
cell's own), skipped when already finished so an interrupted comparison resumes where it stopped."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ctxlearn.compare.aggregate import headline
from ctxlearn.compare.command import CELL_OF
from ctxlearn.errors import CtxlearnError
from ctxlearn.train.dist import duration


WARNING = "ctxlearn: warning: "  # how a cell's log begins a warning line (``dist.warn``, the CLI's warnings)


@dataclass(frozen=True)
class Cell:
    method: str
    seed: int
    fold: int | None = None  # the test fold, under --folds

    @property
    def name(self) -> str:
        return f"{self.method}-s{self.seed}" + (f"-f{self.fold}" if self.fold is not None else "")

    @property
    def args(self) -> list[str]:
        """The flags that make a cell this cell: its seed, and its test fold."""
        return ["--seed", str(self.seed), *(["--fold", str(self.fold)] if self.fold is not None else [])]


def cell_result(folder: Path) -> dict[str, Any] | None:
    """The summary of a finished cell (None if it has not finished)."""
    if not (folder / "manifest.json").is_file():
        return None
    from ctxlearn.icl.run import icl_summary
    from ctxlearn.train.run import summary

    manifest = json.loads((folder / "manifest.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    res = (icl_summary if manifest["method"] == "icl" else summary)(metrics, manifest, folder)
    res.update(artifact_mb=artifact_mb(folder), seed=manifest["seed"], n_test=metrics["test"].get("n"),
               n_train=manifest.get("data_sizes", {}).get("train"),
               majority_class=metrics["test"].get("majority_class"),
               majority_accuracy=metrics["test"].get("majority_accuracy"),
               epochs_run=manifest.get("training", {}).get("epochs_run"),
               earlier_seconds=manifest.get("training", {}).get("earlier_seconds"),  # a cell that went on
               features_cached=manifest.get("training", {}).get("features_cached"),
               predict_ms_per_example=manifest["cost"].get("predict_ms_per_example"))
    return res


def cell_warnings(results: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each warning the cells gave (their manifests keep them), once, with the cells that gave it."""
    given: dict[str, list[str]] = {}
    for r in results:
        for note in r.get("warnings") or []:
            given.setdefault(note, []).append(Cell(r["method"], r["seed"], r.get("fold")).name)
    return given


def kept_result(folder: Path, key: str) -> dict[str, Any] | None:
    """A finished cell's summary, if it ran as ``key`` says it must now (``cell_key``); None otherwise."""
    stamp = folder.with_name(folder.name + ".key")
    return cell_result(folder) if stamp.is_file() and stamp.read_text() == key else None


def cell_key(args: list[str], digest: str) -> str:
    """What a cell's result stands for: its command line (budget, flags, seed), its data (``data_digest``)
    and the ctxlearn version (which decides how a file is cut). A finished cell is kept only while its key
    holds: an edited data file or another --budget runs it again, rather than mixing old and new cells."""
    from ctxlearn import __version__

    return hashlib.sha256("\0".join([__version__, digest, *args]).encode()).hexdigest()


def data_digest(data: str) -> str:
    """sha256 over the names and bytes of the files of ``data`` (one file, or the split files of a folder),
    read once per comparison; empty for builtin:NAME, which has no files and whose name, in the args, stands
    for it."""
    path = Path(data)
    files = _split_files(path) if path.is_dir() else [path] if path.is_file() else []
    h = hashlib.sha256()
    for f in files:  # the path within the folder: a split's files may sit in a folder of its own (train/)
        name = f.relative_to(path).as_posix() if path.is_dir() else f.name
        h.update(name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest() if files else ""


def _split_files(folder: Path) -> list[Path]:
    """The files a data folder's splits are read from (classification or tagging): not the other files
    beside them, such as the runs a comparison writes into the folder it reads."""
    return sorted({f for files in _found_splits(folder).values() for f in files})


def cuts_test(data: str) -> bool:
    """Whether the test split is cut from train: one file, built-in data, or a folder without a test file."""
    return not Path(data).is_dir() or "test" not in _found_splits(Path(data))


def _found_splits(folder: Path) -> dict[str, list[Path]]:
    from ctxlearn.data.folders import find_split_files
    from ctxlearn.data.readers import READERS
    from ctxlearn.data.tagged import TAGGED_READERS

    return find_split_files(folder, (*READERS.names(), *TAGGED_READERS.names()))


def artifact_mb(folder: Path) -> float:
    """Size of what must be shipped to predict: weights, adapter, head (reports excluded)."""
    parts = [folder / n for n in ("backbone", "adapter", "bottleneck", "head.safetensors", "icl.json")]
    files = [f for p in parts if p.exists() for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return sum(f.stat().st_size for f in files) / 2**20


def start_over_if_changed(folder: Path, key: str) -> None:
    """Discard a cell's run stopped part-way (FOLDER.partial) under other flags or data than ``key`` says it
    runs with now: `train --resume` refuses to mix them (a curve's cell stopped at patience 2, rerun with 0,
    failed the comparison). The key a cell starts under is kept beside it (FOLDER.started) to tell."""
    stamp, partial = folder.with_name(folder.name + ".started"), folder.with_name(folder.name + ".partial")
    if partial.exists() and stamp.is_file() and stamp.read_text() != key:
        shutil.rmtree(partial)
    stamp.write_text(key)


def run_cell(cell: Cell, folder: Path, args: list[str], log: Path) -> dict[str, Any]:
    """Run one cell as ``python -m ctxlearn train ...``; its log goes to ``log``."""
    command = "icl" if cell.method == "icl" else "train"
    cmd = [sys.executable, "-m", "ctxlearn", command, *args, *cell.args, "--out", str(folder), "--json"]
    if command == "train":  # --resume: a cell interrupted with the comparison goes on from its last checkpoint
        cmd += ["--method", cell.method, "--resume"]
    resumed = goes_on(folder)
    with log.open("a" if resumed else "w") as fh:  # a cell that goes on adds to the log of its first part
        if resumed:
            fh.write(f"\n[compare] going on from {resumed}\n")
            fh.flush()
        proc = run_to_a_stop(cmd, fh, env={**os.environ, CELL_OF: str(folder.parent.parent)})
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-3:]
        raise CtxlearnError(f"cell {cell.name} failed (exit {proc.returncode}); see {log}:\n  " + "\n  ".join(tail))
    result = cell_result(folder)
    assert result is not None
    return result


def goes_on(folder: Path) -> str:
    """Where a cell stopped part-way keeps its work (FOLDER.partial: a train run's checkpoint, or the parts an
    icl run scored), for the run that goes on from it; "" for a cell that starts afresh."""
    partial = folder.with_name(folder.name + ".partial")
    kept = partial.iterdir() if partial.is_dir() else iter(())
    return str(partial) if any(p.name.startswith("checkpoint-") or p.suffix == ".npy" for p in kept) else ""


def run_to_a_stop(cmd: list[str], log: IO[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` (stdout kept, stderr to ``log``) in a session of its own, which Ctrl-C does not reach: on
    Ctrl-C (or SIGTERM) compare passes one SIGINT on and waits while the cell saves a checkpoint at the end
    of its step, for the rerun to resume; a second Ctrl-C ends it at once. subprocess.run killed it a
    quarter second on, losing every step since its last checkpoint."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True, env=env)
    try:
        out, _ = proc.communicate()
    except KeyboardInterrupt:
        if os.name == "posix":
            proc.send_signal(signal.SIGINT)
        else:  # Windows has no SIGINT to send
            proc.kill()
        try:
            proc.communicate()
        except KeyboardInterrupt:
            proc.kill()
            proc.wait()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out)


class Progress:
    """One line per cell with an ETA from the mean duration of the cells run so far."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.spent, self.ran = total, 0, 0.0, 0
        self.said: set[str] = set()  # the cells' warnings shown so far

    def start(self, cell: Cell, resumed: str = "") -> float:
        """Say the cell starts, or goes on from where it stopped (``resumed``: the folder of its work so far)."""
        eta = f", ETA {duration(self.spent / self.ran * (self.total - self.done))}" if self.ran else ""
        on = f", going on from {Path(resumed).name}" if resumed else ""
        print(f"{self.label(cell)}{on}{eta}", file=sys.stderr, flush=True)
        return time.time()

    def label(self, cell: Cell) -> str:
        """``[2/6] lora seed 0`` (and its fold): the cell about to run or be kept."""
        fold = f" fold {cell.fold}" if cell.fold is not None else ""
        return f"[{self.done + 1}/{self.total}] {cell.method} seed {cell.seed}{fold}"

    def finish(self, cell: Cell, result: dict[str, Any]) -> None:
        """Say the cell's score and time: ``result["process_seconds"]`` for a cell run now (None: kept, whose
        line names it here, as ``start`` names a cell that runs)."""
        seconds = result.get("process_seconds")
        if seconds is None:
            print(self.label(cell), file=sys.stderr, flush=True)
        self.done += 1
        if seconds is not None:
            self.spent += seconds
            self.ran += 1
            how = f"{seconds:.0f} s"
        elif "same_as_seed" in result:
            how = f"the same run as seed {result['same_as_seed']}: nothing to draw"
        else:
            how = "kept from an earlier run"
        key, name = headline([result])
        print(f"      {name} {result[key]:.4f} ({how})", file=sys.stderr, flush=True)

    def relay(self, log: Path) -> None:
        """Show the warnings in a cell's log that no cell before it gave: those of the data (a small dev
        split, unknown tokens, class ids an LM cannot read) come once, not once per cell, and not only
        in the logs."""
        lines = log.read_text().splitlines() if log.is_file() else []
        for line in lines:
            if line.startswith(WARNING) and line not in self.said:
                self.said.add(line)
                print(f"      {line}", file=sys.stderr, flush=True)
