"""Classification metrics from class probabilities (scikit-learn), plus calibration error."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from ctxlearn.evaluate.decision import Threshold, decide


def calibration_bins(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> list[dict[str, float]]:
    """The top-label reliability diagram: for each non-empty equal-width confidence bin (Guo et al. 2017),
    its share of the examples, their mean confidence and their accuracy. Hand-written: scikit-learn has only
    ``calibration_curve`` for binary problems, not the multi-class top label."""
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            right = pred[inside] == y[inside]
            out.append({"low": float(lo), "high": float(hi), "share": float(inside.mean()),
                        "confidence": float(conf[inside].mean()), "accuracy": float(right.mean())})
    return out


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE: the bins' gaps between accuracy and confidence, weighted by their share (``calibration_bins``)."""
    return calibration_error(calibration_bins(probs, y, bins))


def calibration_error(bins: list[dict[str, float]]) -> float:
    """The ECE of bins ``calibration_bins`` made."""
    return float(sum(b["share"] * abs(b["accuracy"] - b["confidence"]) for b in bins))


def accuracy_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson interval of an accuracy of ``correct`` out of ``n``: how far the score on a split this
    size could sit from the model's accuracy on more of the same data (on 50 examples, one is 2 points)."""
    from scipy.stats import binomtest

    if n == 0:  # no examples: nothing is known
        return 0.0, 1.0
    ci = binomtest(correct, n).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def only_class(probs: np.ndarray, gold: np.ndarray) -> int | None:
    """The class predicted for every row where the gold labels hold several (a model answering its prior
    alone: a stalled training run, an LM whose label bias outweighs the prompt), else None."""
    picked = np.unique(probs.argmax(-1))
    return int(picked[0]) if len(picked) == 1 and len(np.unique(gold)) > 1 else None


def majority(y: np.ndarray, labels: list[str]) -> tuple[str, float]:
    """The most common class of gold labels ``y`` and the accuracy of always answering it: the score any
    model must beat to have learned more than how common each class is (0.85 on SMS spam's test)."""
    if len(y) == 0:
        return "", 0.0
    counts = np.bincount(np.asarray(y), minlength=len(labels))
    return labels[int(counts.argmax())], float(counts.max() / len(y))


def below_majority(metrics: dict[str, Any]) -> str | None:
    """What to say when a split's accuracy is below its majority-class baseline (``majority``), else None."""
    if metrics.get("majority_accuracy") is None or metrics["accuracy"] >= metrics["majority_accuracy"]:
        return None
    return (f"accuracy {metrics['accuracy']:.3f} is below the {metrics['majority_accuracy']:.3f} of always answering "
            f"{metrics['majority_class']!r}, the most common class")


def classification_metrics(y: np.ndarray, probs: np.ndarray, labels: list[str],
                           threshold: Threshold | None = None) -> dict[str, Any]:
    """Accuracy and its 95% interval; the majority-class baseline; macro, micro and per-class
    precision/recall/F1; confusion matrix; ECE. Labels are the most probable class, or decided by
    ``threshold`` (kept in the metrics as ``threshold``); ECE is the top class's, whatever the rule."""
    pred = decide(probs, labels, threshold)
    ids = list(range(len(labels)))
    out: dict[str, Any] = {"n": int(len(y)), "accuracy": float(accuracy_score(y, pred))}
    out["majority_class"], out["majority_accuracy"] = majority(y, labels)
    out["accuracy_low"], out["accuracy_high"] = accuracy_interval(int((pred == y).sum()), len(y))
    # The macro mean skips classes in neither gold nor predictions: their F1 is 0/0, and counting it as 0
    # would mark perfect predictions down on a split that lacks a class (sklearn without ``labels`` and
    # seqeval average the same way). Micro sums counts, to which such classes add nothing.
    present = sorted(set(np.asarray(y).tolist()) | set(pred.tolist()))
    for avg, classes in (("macro", present), ("micro", ids)):
        p, r, f, _ = precision_recall_fscore_support(y, pred, labels=classes, average=avg, zero_division=0)
        out.update({f"{avg}_precision": float(p), f"{avg}_recall": float(r), f"{avg}_f1": float(f)})
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=ids, average=None, zero_division=0)
    out["per_class"] = {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                        for i, lab in enumerate(labels)}
    out["confusion"] = confusion_matrix(y, pred, labels=ids).tolist()
    bins = calibration_bins(probs, y)  # once, for the ECE and the reliability diagram
    out["ece"] = calibration_error(bins)
    out["reliability"] = bins
    if threshold is not None:
        out["threshold"] = {"label": threshold.label, "value": threshold.value}
    return out
