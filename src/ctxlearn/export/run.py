"""``ctxlearn export ARTIFACT --int8 --out DIR``: an int8 copy of a trained run folder (a classifier or
a tagger), measured.

The copy holds the same files; its manifest gains an ``export`` entry, so every loader of run folders
(``predict``, ``eval``, ``serve``) quantizes it on load (``ctxlearn.export.quantize``). Before writing,
the original and the int8 model predict the artifact's own test split (or a held-out file) here, and
``export.json`` records the change in the task's metric (accuracy; entity F1 for taggers), the speed of
each, and how many int8 predictions (labels; word tags) change with batch composition.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ctxlearn.artifact import EXPORT, check_out, read_manifest, write_atomically
from ctxlearn.data.inspect import count
from ctxlearn.errors import ConfigError
from ctxlearn.export.quantize import ENGINE, is_int8, quantize_int8
from ctxlearn.lock import exclusive
from ctxlearn.models.infer import progress
from ctxlearn.predict import open_predictor
from ctxlearn.tasks import TASKS
from ctxlearn.train.dist import say

METRIC_NAMES = {"accuracy": "accuracy", "f1": "entity F1"}  # each task's ``Task.metric``, as the report names it

SENSITIVITY_SAMPLE = 256  # test examples predicted one at a time and in batches of 32, for the batch check


SETTLE_SECONDS, MAX_PASSES = 6.0, 3  # a small test split is predicted again, up to 3 passes or 6 s in all


class Measured(Protocol):
    """What export measures a run through: ``Predictor`` (classifiers) and ``TaggingPredictor`` offer it."""

    model: nn.Module
    bf16: bool
    unit: str  # what ``batch_labels`` labels: examples, or a tagger's words

    def labelled(self, spec: str) -> tuple[list, str]: ...

    def evaluate_examples(self, examples: list, source: str) -> dict[str, Any]: ...

    def batch_labels(self, examples: list, batch_size: int) -> np.ndarray: ...


def timed_eval(predictor: Measured, examples: list, source: str, metric: str) -> dict[str, Any]:
    """The task's ``metric`` on the test split and end-to-end prediction speed (tokenising and the model),
    from the fastest of the passes: one pass over 249 RTE pairs took 2 to 3 s, and its speed varied by a
    third between runs on a 2-core VM. Every metric of the last pass is kept under ``all``."""
    times = []
    while not times or (sum(times) < SETTLE_SECONDS and len(times) < MAX_PASSES):
        t0 = time.perf_counter()
        m = predictor.evaluate_examples(examples, source)
        times.append(time.perf_counter() - t0)
    return {metric: m[metric], "macro_f1": m["macro_f1"], "n": m["n"], "seconds": round(min(times), 3),
            "passes": len(times), "examples_per_s": round(m["n"] / min(times), 1), "all": m}


def batch_sensitivity(predictor: Measured, examples: list) -> dict[str, Any]:
    """Share of predicted labels (a tagger's: word tags) that differ between batch size 1 and 32, on up to
    256 test examples. Dynamic int8 scales each batch's activations by the batch's own range, so a served
    prediction can depend on which requests share its batch."""
    label = [predictor.batch_labels(examples[:SENSITIVITY_SAMPLE], bs) for bs in (1, 32)]
    return {"share": float(np.mean(label[0] != label[1])), "n": len(label[0]), "of": predictor.unit}


def measure(src: Path, data: str, metric: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """fp32, the artifact's own precision (bf16 when its manifest says so) and int8, on what eval scores of
    ``data``: the run's own test split of its data (never all of the file it cut its splits from, most of
    which it trained on), or a held-out file whole. Before each timing, a small prediction sets up the
    kernels, so their one-time cost is not timed. Returns each precision's summary, and every metric of
    int8 with where its examples came from (``scored``), as eval writes them."""
    predictor: Measured = open_predictor(src)
    examples, source = predictor.labelled(data)  # what eval would score: a file given whole, else a test split
    rows: dict[str, dict[str, Any]] = {}
    scores: dict[str, dict[str, Any]] = {}
    say(f"export: predicting the {len(examples):,} test examples of {source} in fp32"
        f"{', bf16' if predictor.bf16 else ''} and int8, up to {MAX_PASSES} passes each")

    def timed(name: str, bf16: bool) -> None:
        predictor.bf16 = bf16
        predictor.batch_labels(examples[:8], 8)
        with progress(f"export {name}"):  # a pass of 4,096 rows or more says how far it is
            rows[name] = timed_eval(predictor, examples, source, metric)
        scores[name] = rows[name].pop("all")
        say(f"export: {name} {100 * rows[name][metric]:.2f}% {METRIC_NAMES[metric]}, "
            f"{rows[name]['examples_per_s']:,.1f} examples/s")

    for name, bf16 in [("fp32", False)] + ([("bf16", True)] if predictor.bf16 else []):
        timed(name, bf16)
    quantize_int8(predictor.model)
    timed("int8", False)  # int8 kernels take fp32 activations
    rows["int8"]["batch_sensitivity"] = batch_sensitivity(predictor, examples)
    return rows, {**scores["int8"], "scored": source}


def summarize(src: Path, out: Path, data: str, rows: dict[str, dict[str, Any]], metric: str) -> dict[str, Any]:
    """The export report: every measurement, and the int8 change in ``metric`` (the task's) and speed
    against fp32 and the artifact as stored."""
    own = "bf16" if "bf16" in rows else "fp32"
    int8 = rows["int8"]

    def versus(ref: str) -> dict[str, float]:
        return {f"{metric}_change_points": round(100 * (int8[metric] - rows[ref][metric]), 2),
                "speedup": round(int8["examples_per_s"] / rows[ref]["examples_per_s"], 2)}

    return {"source": str(src), "out": str(out), "data": data, "weights": "int8-dynamic", "engine": ENGINE,
            "stored": "the source's fp32 safetensors; quantized on load, deterministically from them",
            "torch_threads": torch.get_num_threads(), "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "metric": metric, "artifact_precision": own, "measured": rows, "int8_vs_fp32": versus("fp32"),
            "int8_vs_artifact": versus(own)}


def format_report(r: dict[str, Any]) -> str:
    metric = r["metric"]
    threads = count(r["torch_threads"], "thread")
    lines = [f"int8 export of {r['source']} -> {r['out']} (test split of {r['data']}, {threads})",
             f"{'':8}{METRIC_NAMES[metric]:>10}{'macro-F1':>10}{'examples/s':>12}"]
    for name, m in r["measured"].items():
        lines.append(f"{name:8}{100 * m[metric]:>9.2f}%{100 * m['macro_f1']:>9.2f}%{m['examples_per_s']:>12.1f}")
    return "\n".join(lines + _verdict(r))


# The source run's own predictions and plots, of its own precision: kept under OUT/source/, where the copy's
# report shows them below its source's report; at the top of an int8 folder they read as int8's
SOURCE, SOURCE_SCORED = "source", ("test_predictions.jsonl", "confusion.txt", "confusion.png", "reliability.png")


def report_markdown(r: dict[str, Any], source_report: str) -> str:
    """The copy's report.md: what int8 scored, then the source's report, which is of its own precision."""
    metric, n = r["metric"], r["measured"]["int8"]["n"]
    names = {"int8": "int8 (this folder)"}
    rows = [f"| {names.get(name, name)} | {100 * m[metric]:.2f}% | {100 * m['macro_f1']:.2f}% "
            f"| {m['examples_per_s']:,.1f} |" for name, m in r["measured"].items()]
    return "\n".join([
        f"# ctxlearn int8 export of {r['source']}", "",
        f"This folder is `{r['source']}` with its backbone's linear layers quantized to int8 (dynamic) as it loads: "
        f"predict, eval and serve load it so. Measured on the {n:,} test examples of {r['data']} "
        f"({count(r['torch_threads'], 'thread')}):", "",
        f"| precision | {METRIC_NAMES[metric]} | macro-F1 | examples/s |", "|---|---:|---:|---:|", *rows, "",
        *(f"- {line}" for line in _verdict(r)), "",
        f"Below is the source run's report, scored in {r['artifact_precision']}, not int8; its predictions and plots "
        f"are in `{SOURCE}/`. int8's own: `ctxlearn eval {r['out']} --data {r['data']} --out FOLDER`.", "", "---", "",
        _in_source(source_report).strip(), ""])


def _in_source(report: str) -> str:
    """The source's report with its links to its own files pointing into ``SOURCE/``."""
    for name in SOURCE_SCORED:
        for said in (f"]({name})", f"`{name}`", f"in {name}"):
            report = report.replace(said, said.replace(name, f"{SOURCE}/{name}"))
    return report


def _verdict(r: dict[str, Any]) -> list[str]:
    """int8 against fp32 (and the artifact's own precision), its batch sensitivity, and a warning if slower."""
    metric, lines = r["metric"], []
    for ref in ("fp32", r["artifact_precision"]) if r["artifact_precision"] != "fp32" else ("fp32",):
        v = r[f"int8_vs_{'fp32' if ref == 'fp32' else 'artifact'}"]
        change = v[f"{metric}_change_points"]
        lines.append(f"int8 vs {ref}: {METRIC_NAMES[metric]} {change:+.2f} points, {_pace(v['speedup'])}")
    sens = r["measured"]["int8"]["batch_sensitivity"]
    lines.append(f"int8 labels that change between batch size 1 and 32: {100 * sens['share']:.1f}% of {sens['n']} test "
                 f"{sens['of']}")
    if r["int8_vs_artifact"]["speedup"] < 1:
        lines.append(f"warning: on this machine int8 is slower than the run in its own precision "
                     f"({r['artifact_precision']}); serve and predict with {r['source']} itself")
    return lines


def _pace(ratio: float) -> str:
    return f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"


def exported_metrics(source: dict[str, Any], int8: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """The copy's metrics.json: ``test`` is what int8 scored (every metric, as eval writes them), where a copy
    of the source's file gave scripts that read ``test.accuracy`` the source's bf16 score for the int8 folder;
    the rest is the source's, scored in its own precision, as ``precision`` says."""
    own = report["artifact_precision"]
    return {**source, "test": int8, "precision": {**{k: own for k in source if k != "test"}, "test": "int8"}}


def check_source(src: Path, out: Path) -> dict[str, Any]:
    manifest = read_manifest(src)
    if manifest.get("method") == "icl":
        raise ConfigError(f"{src}: export --int8 takes trained classifiers and taggers; an icl run has no trained "
                          "weights to quantize")
    if is_int8(manifest):
        raise ConfigError(f"{src} is already an int8 export (export.json); export its source instead")
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise ConfigError(f"--out {out} must be outside the source run folder {src}")
    check_out(out, reads=src, writes=EXPORT)
    return manifest


def export_int8(src: str | Path, out: str | Path, data: str | None = None) -> dict[str, Any]:
    """Measure, then write the int8 copy of ``src`` to ``out`` with ``export.json``; returns the report."""
    with exclusive(out):
        return _export_int8(Path(src), Path(out), data)


def _export_int8(src: Path, out: Path, data: str | None) -> dict[str, Any]:
    manifest = check_source(src, out)
    data = data or manifest.get("data")
    if not data:
        raise ConfigError(f"{src}: the manifest names no data; give --data with the test file or data folder")
    metric = TASKS.get(manifest.get("task", "classification")).metric
    rows, int8 = measure(src, str(data), metric)
    report = summarize(src, out, str(data), rows, metric)

    def fill(tmp: Path) -> None:
        shutil.copytree(src, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*", *SOURCE_SCORED))
        for name in SOURCE_SCORED:
            if (src / name).is_file():
                (tmp / SOURCE).mkdir(exist_ok=True)
                shutil.copy2(src / name, tmp / SOURCE / name)
        exported = {**manifest, "bf16": False, "export": {"weights": "int8-dynamic", "engine": ENGINE, "from": str(src),
                                                          "report": "export.json"}}
        (tmp / "manifest.json").write_text(json.dumps(exported, indent=2) + "\n")
        (tmp / "export.json").write_text(json.dumps(report, indent=2) + "\n")
        if (tmp / "report.md").is_file():
            (tmp / "report.md").write_text(report_markdown(report, (tmp / "report.md").read_text()))
        if (tmp / "metrics.json").is_file():
            source_metrics = json.loads((tmp / "metrics.json").read_text())
            (tmp / "metrics.json").write_text(json.dumps(exported_metrics(source_metrics, int8, report), indent=2))

    write_atomically(out, fill, writes=EXPORT)
    return report
