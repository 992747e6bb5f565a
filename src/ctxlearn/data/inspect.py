"""``ctxlearn data inspect``: what is in a data set, and what might go wrong training on it."""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ctxlearn.config import IMBALANCE_RATIO
from ctxlearn.data.splits import Splits


def inspect_splits(splits: Splits, tokenizer: Any | None = None, max_length: int = 128) -> dict[str, Any]:
    report: dict[str, Any] = {"labels": splits.labels, "pair": splits.is_pair, "sources": splits.sources, "splits": {}}
    warnings: list[str] = []
    for name in ("train", "dev", "test"):
        exs = getattr(splits, name)
        counts = Counter(ex.label for ex in exs)
        info: dict[str, Any] = {"n": len(exs), "labels": {lab: counts.get(lab, 0) for lab in splits.labels}}
        dupes = len(exs) - len({(ex.text, ex.text_pair) for ex in exs})
        info["duplicates"] = dupes
        if dupes:
            warnings.append(f"{name}: {dupes} duplicate texts")
        if tokenizer is not None and exs:
            info["tokens"] = _lengths(exs, tokenizer)
            over = info["tokens"]["over_max"] = int(sum(n > max_length for n in info["tokens"].pop("_all")))
            if over:
                warnings.append(f"{name}: {over} examples longer than max_length {max_length} will be truncated "
                                "(train --long-inputs windows reads them whole)")
        report["splits"][name] = info
    warnings += _imbalance(report["splits"]["train"]["labels"]) + _overlap(splits)
    report["warnings"] = warnings
    return report


def _lengths(exs: list, tokenizer: Any) -> dict[str, Any]:
    pairs = [ex.text_pair for ex in exs] if exs[0].text_pair is not None else None
    ids = tokenizer([ex.text for ex in exs], pairs)["input_ids"]
    n = np.array([len(x) for x in ids])
    out = {f"p{q}": int(np.percentile(n, q)) for q in (50, 90, 95, 99)}
    out.update({"mean": round(float(n.mean()), 1), "max": int(n.max()), "_all": n.tolist()})
    return out


def imbalanced(counts: list[int]) -> bool:
    """Whether the largest class has over IMBALANCE_RATIO times the rows of the smallest (or one has none)."""
    lo, hi = min(counts), max(counts)
    return lo == 0 or hi / lo > IMBALANCE_RATIO


def _imbalance(counts: dict[str, int]) -> list[str]:
    if not imbalanced(list(counts.values())):
        return []
    return [f"train: classes are imbalanced ({max(counts.values())} vs {min(counts.values())} examples); macro-F1 is "
            "the fairer score, and --class-weights balanced makes the rare classes weigh as much as the common ones "
            "in training"]


def _overlap(splits: Splits) -> list[str]:
    train = {(ex.text, ex.text_pair) for ex in splits.train}
    out = []
    for name in ("dev", "test"):
        shared = sum((ex.text, ex.text_pair) in train for ex in getattr(splits, name))
        if shared:
            out.append(f"{name}: {shared} examples also appear in train (scores will be optimistic)")
    return out


def format_report(report: dict[str, Any]) -> str:
    lines = [f"labels: {', '.join(report['labels'])}" + ("  (text pairs)" if report["pair"] else "")]
    for name, info in report["splits"].items():
        dist = ", ".join(f"{lab} {c}" for lab, c in info["labels"].items())
        lines.append(f"{name:5s} {info['n']:7d} examples  [{report['sources'].get(name, '')}]")
        lines.append(f"      labels: {dist}")
        if "tokens" in info:
            t = info["tokens"]
            lines.append(f"      tokens: mean {t['mean']}, p50 {t['p50']}, p90 {t['p90']}, p99 {t['p99']}, max {t['max']}")
    lines += [f"warning: {w}" for w in report["warnings"]] or ["no warnings"]
    return "\n".join(lines)
