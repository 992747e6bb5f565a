"""``compare --estimate``: before any full training, each method runs a few measured steps (its own
process, so peak memory is its own) that predict time per epoch and peak memory; the table is shown
first, and the report later puts each estimate beside what the cells measured."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ctxlearn.compare.cells import cell_key
from ctxlearn.errors import CtxlearnError
from ctxlearn.train.dist import duration

STEPS = 40  # batches spread from the longest to the shortest: enough shapes for the memory oneDNN keeps per shape,
# and enough points for the line through seconds against tokens; ~15 s a method on a CPU


def estimate_method(method: str, args: list[str], log: Path, steps: int = STEPS) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "ctxlearn", "train", *args, "--method", method, "--estimate-steps", str(steps),
           "--out", str(log.with_suffix("")), "--json"]
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=fh, text=True)
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-3:]
        raise CtxlearnError(f"estimate for {method} failed (exit {proc.returncode}); see {log}:\n  " + "\n  ".join(tail))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load_or_run(methods: list[str], args_for: Any, folder: Path, digest: str) -> dict[str, dict[str, Any]]:
    """Estimates per method, kept in ``folder/estimates.json`` so a resumed comparison reuses them, each
    while its ``cell_key`` (command line, ``digest`` of the data) holds, as finished cells are kept."""
    path = folder / "estimates.json"
    done = json.loads(path.read_text()) if path.is_file() else {}
    for method in methods:
        args = args_for(method)
        key = cell_key(args, digest)
        if method != "icl" and done.get(method, {}).get("key") != key:  # icl trains nothing: its cost is scoring
            print(f"[estimate] {method}: {STEPS} measured steps", file=sys.stderr, flush=True)
            done[method] = {**estimate_method(method, args, folder / "cells" / f"estimate-{method}.log"), "key": key}
            path.write_text(json.dumps(done, indent=2))
    return {m: done[m] for m in methods if m in done}  # not a method an earlier run of this --out estimated


def table(estimates: dict[str, dict[str, Any]], seeds: int) -> str:
    lines = ["| method | est. s/epoch | epochs | est. peak memory MB | est. total s (all seeds) |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {m} | {e['epoch_seconds']:.0f} | {e['epochs']:g} | {e['peak_rss_mb']:.0f} | {all_seeds(e, seeds):.0f} |"
              for m, e in estimates.items()]
    total = sum(all_seeds(e, seeds) for e in estimates.values())
    return "\n".join(lines + ["", f"Estimated training time for the whole comparison: {duration(total)}."])


def all_seeds(est: dict[str, Any], seeds: int) -> float:
    """The features method computes its features once: later seeds only fit (``cached_epoch_seconds``)."""
    return est["total_seconds"] + (seeds - 1) * est.get("cached_epoch_seconds", est["total_seconds"])


def expected_epoch_seconds(est: dict[str, Any], cell: dict[str, Any]) -> float:
    """The estimate for what this cell did: a features cell that found its features stored only fitted,
    one that did not also ran the forward pass (whichever the estimate itself found)."""
    if "cached_epoch_seconds" not in est or cell.get("features_cached") is None:
        return est["epoch_seconds"]
    return est["cached_epoch_seconds"] + (0.0 if cell["features_cached"] else est["forward_seconds"])


def actual_epoch_seconds(cell: dict[str, Any]) -> float:
    """What a finished cell spent per epoch (the features method fits once: one 'epoch')."""
    return cell["train_seconds"] / max(cell.get("epochs_run") or 1.0, 1e-9)


def beside(rows: list[dict[str, Any]], cells: list[dict[str, Any]], estimates: dict[str, dict[str, Any]]) -> None:
    """Add estimate and actual (mean over the method's cells) to each row, with the ratio."""
    for row in rows:
        est = estimates.get(row["method"])
        if not est:
            continue
        mine = [c for c in cells if c["method"] == row["method"]]
        actual = sum(actual_epoch_seconds(c) for c in mine) / len(mine)
        expected = sum(expected_epoch_seconds(est, c) for c in mine) / len(mine)
        row["estimate"] = {"epoch_seconds": expected, "actual_epoch_seconds": actual,
                           "peak_rss_mb": est["peak_rss_mb"], "actual_peak_rss_mb": row["peak_rss_mb"],
                           "time_error": expected / actual - 1 if actual else None,
                           "memory_error": est["peak_rss_mb"] / row["peak_rss_mb"] - 1 if row["peak_rss_mb"] else None}
