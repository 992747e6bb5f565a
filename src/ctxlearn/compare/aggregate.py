"""Cell results -> one row per method (mean ± std over seeds) and a recommendation."""
from __future__ import annotations

from typing import Any

import numpy as np

from ctxlearn.evaluate.metrics import accuracy_interval

MEANED = ("test_accuracy", "test_f1", "test_macro_f1", "train_seconds", "peak_rss_mb", "predict_ms_per_example",
          "artifact_mb")
SCORES = {"classification": ("test_accuracy", "test_macro_f1"),  # each task's scores: another's are None, not 0
          "tagging": ("test_f1", "test_macro_f1")}
HEADLINE = {"classification": ("test_accuracy", "test accuracy"), "tagging": ("test_f1", "test entity F1")}
RANKINGS = ("accuracy", "macro_f1")  # what --rank-by ranks classification runs by (tagging: entity F1)
IMBALANCED = 0.7  # a test split whose most common class holds this share: macro-F1 may rank methods better


def headline(rows: list[dict[str, Any]], rank_by: str = "accuracy") -> tuple[str, str]:
    """(key, name) of the score methods are ranked by: accuracy or (``rank_by`` macro_f1) macro-F1, or
    entity F1 for tagging runs."""
    task = rows[0].get("task", "classification")
    return ("test_macro_f1", "test macro-F1") if task == "classification" and rank_by == "macro_f1" else HEADLINE[task]


def aggregate(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for method in dict.fromkeys(r["method"] for r in results):
        cells = [r for r in results if r["method"] == method]
        row: dict[str, Any] = {"method": method, "seeds": len(cells), "task": cells[0].get("task", "classification"),
                               "trainable_params": cells[0]["trainable_params"], "total_params": cells[0]["total_params"],
                               "n_test": cells[0].get("n_test"), "n_train": cells[0].get("n_train"),
                               "majority_class": cells[0].get("majority_class"),
                               "majority_accuracy": cells[0].get("majority_accuracy"),
                               "repeated_seeds": sum("same_as_seed" in c for c in cells),
                               "features_cached": all(c.get("features_cached") for c in cells)}
        folds = {c["fold"] for c in cells if c.get("fold") is not None}
        if folds:  # one seed's folds together test every example once: the interval is over all of them
            row.update(folds=len(folds), **_over_folds([c for c in cells if c["seed"] == cells[0]["seed"]]))
        for key in MEANED:
            if key.startswith("test_") and key not in SCORES.get(row["task"], (key,)):  # a classifier's entity F1
                row[key] = row[f"{key}_std"] = None
                continue
            vals = np.array([c.get(key) or 0.0 for c in cells], dtype=float)
            row[key], row[f"{key}_std"] = float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        rows.append(row)
    return rows


def _over_folds(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """One seed's folds together: the test examples of all of them, the mean training size, and the majority
    baseline over every tested example (each fold's most common class on its own examples). Fold 0's
    alone put cb's baseline at 46.4% where all 250 examples give 47.6%."""
    n_test = sum(c.get("n_test") or 0 for c in cells)
    out: dict[str, Any] = {"n_test": n_test, "n_train": round(float(np.mean([c.get("n_train") or 0 for c in cells])))}
    if n_test and all(c.get("majority_accuracy") is not None for c in cells):
        out["majority_accuracy"] = sum(c["majority_accuracy"] * (c.get("n_test") or 0) for c in cells) / n_test
        out["majority_class"] = "/".join(dict.fromkeys(str(c.get("majority_class")) for c in cells))
    return out


def size(mb: float) -> str:
    """An artifact size a reader can compare: a head of a few kilobytes is not "0.0 MB"."""
    return f"{mb:.1f} MB" if mb >= 0.1 else f"{mb * 1024:.0f} KB"


def recommend(rows: list[dict[str, Any]], within: float = 0.01, rank_by: str = "accuracy") -> dict[str, Any]:
    """The most accurate method (by the ``headline`` score), and the cheapest (fewest trainable
    parameters, then fastest) within ``within`` of it; ``score`` names the score ranked by."""
    key, name = headline(rows, rank_by)
    best = max(rows, key=lambda r: r[key])
    close = [r for r in rows if r[key] >= best[key] - within]
    cheap = min(close, key=lambda r: (r["trainable_params"], r["train_seconds"]))
    top = "Best by macro-F1" if key == "test_macro_f1" else "Most accurate"
    text = (f"{top}: {best['method']} ({100 * best[key]:.1f}% {name}). "
            f"Cheapest within {100 * within:.0f} point of it: {cheap['method']} "
            f"({100 * cheap[key]:.1f}%, {cheap['trainable_params']:,} trainable parameters, "
            f"{cheap['train_seconds']:.0f} s to train, {size(cheap['artifact_mb'])} to ship).")
    rec = {"best": best["method"], "cheapest_within": cheap["method"], "within": within, "text": text,
           "score": key, "score_name": name}
    fast = fastest(close)
    if fast is not None and cheap["predict_ms_per_example"] > 2 * fast["predict_ms_per_example"]:
        rec["fastest_within"] = fast["method"]  # icl trains nothing, but each prediction is a prompt to a causal LM
        rec["text"] += (f" Fastest to predict within {100 * within:.0f} point: {fast['method']} "
                        f"({fast['predict_ms_per_example']:.2f} ms per example, against "
                        f"{cheap['predict_ms_per_example']:.2f} for {cheap['method']}).")
    if key == "test_accuracy" and best.get("n_test"):
        rec.update(resolution(best, rows))
        rec["text"] += " " + rec.pop("resolution_text")
    return rec


def fastest(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The row that predicts fastest per example, among those that measured it (0: not measured)."""
    return min((r for r in rows if r.get("predict_ms_per_example")), key=lambda r: r["predict_ms_per_example"],
               default=None)


def resolution(best: dict[str, Any], rows: list[dict[str, Any]], confidence: float = 0.95) -> dict[str, Any]:
    """How finely the test split ranks: the Wilson interval of the best accuracy over its ``n_test``
    examples, and the methods inside it (on 25 test examples one example is 4 points, so a 1-point
    margin says nothing). A mean over seeds counts as that share of one test split's examples; under --folds,
    ``n_test`` is one seed's folds together, every example once."""
    n = int(best["n_test"])
    low, high = accuracy_interval(round(best["test_accuracy"] * n), n, confidence)
    inside = [r["method"] for r in rows if r is not best and r["test_accuracy"] >= low]
    verdict = (f"{_names(inside)} {'scores' if len(inside) == 1 else 'score'} inside it, so this test split cannot "
               f"rank {'it' if len(inside) == 1 else 'them'} against the best" if inside
               else "every other method scores below it")
    near = [r["method"] for r in rows if r is not best and r["method"] not in inside and reaches(r, low)]
    if near:  # below the interval by less than its own spread over seeds, or by less than the shown rounding
        verdict += (f"; {'though ' if not inside else ''}{_names(near)} {'is' if len(near) == 1 else 'are'} below it "
                    "by less than the spread over seeds or the rounding shown, so not clearly worse")
    text = (f"On {n:,} test examples the best accuracy's {confidence:.0%} interval is {100 * low:.1f}-{100 * high:.1f}% "
            f"(Wilson): {verdict}.")
    return {"interval": [float(low), float(high)], "n_test": n, "within_interval": inside, "near_interval": near,
            "resolution_text": text}


def reaches(row: dict[str, Any], low: float) -> bool:
    """Whether a method's accuracy below ``low`` reaches it within one standard deviation over its seeds, or
    shows as the same number at one decimal (72.69 against an interval from 72.75 both print as 72.7)."""
    acc = row["test_accuracy"]
    spread = (row.get("test_accuracy_std") or 0.0) if row.get("seeds", 1) > 1 else 0.0
    return acc + spread >= low or f"{100 * acc:.1f}" == f"{100 * low:.1f}"


def _names(methods: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return methods[0] if len(methods) == 1 else ", ".join(methods[:-1]) + " and " + methods[-1] if methods else ""
