"""``ctxlearn runs``: the run folders under a folder, side by side (task, data, method, test score, cost),
read from their manifest.json and metrics.json alone, so listing loads no model."""
from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ctxlearn.compare.command import continue_command
from ctxlearn.data.folders import same_data
from ctxlearn.errors import ConfigError
from ctxlearn.train.dist import launch_command
from ctxlearn.train.resume import FINISHED, RECORD, TRAINER_STATE, last_checkpoint

EVALUATION = "eval.json"  # the record of an `eval --out` folder (``predict.write_evaluation``)
METRIC = {"classification": "accuracy", "tagging": "f1"}  # the test score each task's runs are ranked by


@dataclass(frozen=True)
class RunRow:
    run: str
    task: str
    data: str
    method: str
    model: str
    metric: str
    test: float | None  # the test score, 0-1 (None: the folder holds no metrics.json)
    trainable_params: int | None
    train_seconds: float | None
    created: str
    train_examples: int | None = None  # training examples (sentences) it learned from; None: its manifest predates it
    test_split: str = ""  # the start of the test split's content hash: runs of one file under another seed or fold
    # test other examples, and scores on different examples do not rank (nor do those of an icl --limit run)
    warnings: int | None = None  # how many warnings the run gave (its report.md lists them); None: it predates them
    left_out: bool = False  # a compare cell its comparison's last report left out (a method since dropped): not ranked


def find_runs(root: Path) -> list[RunRow]:
    """Every run folder under ``root`` (``root`` itself too), less unfinished and temporary ones
    (``OUT.partial``, ``.NAME.tmp-*``), best test score first within each test split of each data set."""
    if not root.is_dir():
        what = "a file, not a folder" if root.is_file() else "no such folder"
        raise ConfigError(f"{root}: {what}; give the folder your runs were written under (runs)")
    manifests = [root / "manifest.json", *sorted(root.rglob("*/manifest.json"))]
    reported: dict[Path, set[str] | None] = {}  # each comparison's cells in its results.json, read once
    rows = [_row(m.parent, reported) for m in manifests
            if m.is_file() and not _unfinished(m.parent.relative_to(root))]
    named: dict[tuple[str, str], str] = {}  # each group under the first name its data goes by
    for r in sorted(rows, key=lambda r: r.data):
        named.setdefault(rank_group(r), r.data)
    return sorted(rows, key=lambda r: (named[rank_group(r)], rank_group(r), -(r.test if r.test is not None else -1.0),
                                       r.run))


def rank_group(r: RunRow) -> tuple[str, str]:
    """The runs one ``*`` ranks: those of a task scored on the same test examples, by the test split's hash,
    however each run's command named the file (``imb.csv`` in one, ``./imb.csv`` or its full path in another);
    by the data's name where a run keeps no hash."""
    return r.task, r.test_split or f"data {r.data}"


def _unfinished(relative: Path) -> bool:
    return any(part.startswith(".") or part.endswith(".partial") for part in relative.parts)


@dataclass(frozen=True)
class Unfinished:
    """A train run that was stopped: its work folder OUT.partial, how far it got, and how to go on."""

    run: str  # OUT, the folder it writes when it ends
    data: str
    method: str
    progress: str  # "step 132 of 540", "no checkpoint yet", or "trained, not yet scored"
    resume: str  # the command that continues it


def find_unfinished(root: Path) -> list[Unfinished]:
    """The stopped train runs under ``root``: each OUT.partial holding the record of what it was started with."""
    records = sorted(root.rglob(f"*.partial/{RECORD}"))
    return [_stopped(r.parent) for r in records if not any(p.startswith(".") for p in r.relative_to(root).parts)]


def _stopped(work: Path) -> Unfinished:
    record, out = _json(work / RECORD), work.with_name(work.name.removesuffix(".partial"))
    checkpoint = last_checkpoint(work)
    state = _json(checkpoint / TRAINER_STATE) if checkpoint else {}
    if (work / FINISHED).is_file():
        progress = "trained, not yet scored"
    elif state:
        progress = f"step {state.get('global_step', '?')} of {state.get('max_steps', '?')}"
    else:
        progress = "no checkpoint yet"
    cell = work.parent.name == "cells" and (work.parent / f"{out.name}.log").is_file()  # a compare cell's
    resume = ((continue_command(work) or f"the same ctxlearn compare --out {shlex.quote(str(work.parent.parent))}")
              if cell else f"{launch_command(record.get('processes', 1))} train --out {shlex.quote(str(out))} --resume")
    return Unfinished(str(out), str(record.get("data", "?")), str(record.get("method", "?")), progress, resume)


def format_unfinished(stopped: list[Unfinished]) -> str:
    """One stopped run a line: where it got to, and the command that goes on from there."""
    table = [(u.run, u.method, u.data, u.progress, f"continue: {u.resume}") for u in stopped]
    return "\n".join("  " + line for line in _columns(table))


@dataclass(frozen=True)
class Evaluation:
    """An ``eval --out`` folder: which run it scored, on which data, and the score."""

    folder: str
    run: str
    data: str
    metric: str
    test: float | None


def find_evaluations(root: Path) -> list[Evaluation]:
    """The ``eval --out`` folders under ``root`` (their eval.json), in path order."""
    found = [root / EVALUATION, *sorted(root.rglob(f"*/{EVALUATION}"))]
    return [_evaluation(e.parent) for e in found if e.is_file() and not _unfinished(e.parent.relative_to(root))]


def _evaluation(folder: Path) -> Evaluation:
    record, test = _json(folder / EVALUATION), _json(folder / "metrics.json").get("test", {})
    metric = METRIC["tagging" if "per_type" in test else "classification"]
    return Evaluation(str(folder), str(record.get("evaluates", "?")), str(record.get("data", "?")), metric,
                      test.get(metric))


def format_evaluations(evaluations: list[Evaluation]) -> str:
    table = [(e.folder, e.run, e.data, f"{e.metric} {100 * e.test:.2f}" if e.test is not None else "-")
             for e in evaluations]
    return "\n".join("  " + line for line in _columns(table))


def _row(folder: Path, reported: dict[Path, set[str] | None]) -> RunRow:
    manifest = _json(folder / "manifest.json")
    task = manifest.get("task", "classification")
    metric = METRIC.get(task, "accuracy")
    test = _json(folder / "metrics.json").get("test", {}).get(metric)
    data, split = str(manifest.get("data", "?")), _test_split(manifest)
    if manifest.get("export"):  # export.json: the int8 score, in exports that copied their source's metrics.json too
        report = _json(folder / "export.json")
        test = report.get("measured", {}).get("int8", {}).get(metric)
        if not same_data(report.get("data", data), data):  # export --data FILE: a score of that file, not of test
            data, split = str(report["data"]), ""
    cost = manifest.get("cost", {})
    method = manifest.get("method", "?") + (" (int8)" if manifest.get("export") else "")
    return RunRow(str(folder), task, data, method, str(manifest.get("model", "?")), metric, test,
                  cost.get("trainable_params"), cost.get("train_seconds"), str(manifest.get("created", "")),
                  manifest.get("data_sizes", {}).get("train"), split, _count(manifest.get("warnings")),
                  _left_out(folder, reported))


def _left_out(folder: Path, reported: dict[Path, set[str] | None]) -> bool:
    """Whether ``folder`` is a cell (OUT/cells/NAME) that its comparison's results.json does not hold: compare
    run again with fewer methods or seeds keeps the earlier cells, which its report no longer counts.
    ``reported`` keeps each comparison's cell names (None: no results.json yet) for its other cells."""
    if folder.parent.name != "cells":
        return False
    comparison = folder.parent.parent
    if comparison not in reported:
        cells = _json(comparison / "results.json").get("cells")
        reported[comparison] = {Path(str(c.get("out", ""))).name for c in cells} if isinstance(cells, list) else None
    names = reported[comparison]
    return names is not None and folder.name not in names


def _count(warnings: Any) -> int | None:
    return len(warnings) if isinstance(warnings, list) else None


def _test_split(manifest: dict[str, Any]) -> str:
    """The start of the test split's hash, and where an icl run scored only its first N (``--limit``), that."""
    split = manifest.get("data_sha256", {}).get("test", "")[:8]
    scored, size = manifest.get("data_scored", {}).get("test"), manifest.get("data_sizes", {}).get("test")
    return f"{split}, the first {scored:,}" if split and scored is not None and size and scored < size else split


def _json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; {} when it is missing or unreadable (a run copied in part still lists).
    Not ``artifact.read_manifest``: importing artifact loads torch, seconds for a listing of JSON files."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def format_runs(rows: list[RunRow]) -> str:
    """A table, one run a line; ``*`` marks the best test score on each test split (``rank_group``; its first
    row); where a data set has several (runs cut from one file with other seeds or folds), each is named."""
    best: dict[tuple[str, str], str] = {}
    for r in rows:
        if r.test is not None and not r.left_out:
            best.setdefault(rank_group(r), r.run)
    splits: dict[str, set[str]] = {}  # by the file's name, so that a file named two ways shows its splits too
    for r in rows:
        splits.setdefault(Path(r.data).name, set()).add(r.test_split)

    def data(r: RunRow) -> str:
        return f"{r.data} (test {r.test_split})" if len(splits[Path(r.data).name]) > 1 and r.test_split else r.data

    head = ("", "run", "task", "data", "train n", "method", "model", "test", "warnings", "trainable", "train s",
            "created")
    table = [head] + [("*" if best.get(rank_group(r)) == r.run else "-" if r.left_out else "", r.run, r.task, data(r),
                       f"{r.train_examples:,}" if r.train_examples is not None else "-", r.method, r.model,
                       f"{r.metric} {100 * r.test:.2f}" if r.test is not None else "-",
                       str(r.warnings) if r.warnings is not None else "-",
                       f"{r.trainable_params:,}" if r.trainable_params is not None else "-",
                       f"{r.train_seconds:,.0f}" if r.train_seconds is not None else "-",
                       r.created[:16].replace("T", " ")) for r in rows]
    return "\n".join(_columns(table))


def _columns(table: list[tuple[str, ...]]) -> list[str]:
    """The rows of ``table`` as lines, each cell padded to its column's width."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]


def rows_json(rows: list[RunRow]) -> str:
    return json.dumps([asdict(r) for r in rows])
