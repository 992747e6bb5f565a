"""How class probabilities become a label: the most probable class, or one class once its probability
reaches a threshold.

Where one class is rare (spam among texts), the most probable class need not be the rule a user wants: a
threshold on the rare class's probability trades its precision against its recall, and a model trained on
few of its examples is often too unsure of them (head on 300 SMS texts found 69% of test spam at 0.5, 85%
at 0.365). ``tuned_threshold`` picks the one with the best F1
of the rare class on dev and reports test under both rules; ``predict``, ``eval`` and ``serve`` apply a
threshold given as ``--threshold CLASS=P``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ctxlearn.errors import ConfigError
from ctxlearn.registry import did_you_mean

RARE_SHARE = 1 / 3  # a binary task's class is rare, and its threshold worth tuning, under this share of dev
MIN_RARE = 10  # dev examples of the rare class below which a tuned threshold would follow noise
MIN_GAIN = 0.01  # dev F1 of the rare class a threshold must add over the most probable class to be proposed


@dataclass(frozen=True)
class Threshold:
    """Label a text ``label`` when its probability is at least ``value``; otherwise the most probable other class."""

    label: str
    value: float


def decide(probs: np.ndarray, labels: list[str], threshold: Threshold | None = None) -> np.ndarray:
    """The class index each row of ``probs`` (N, C) is labelled with: the argmax, or by ``threshold``."""
    if threshold is None:
        return probs.argmax(-1)
    c = labels.index(threshold.label)
    others = probs.copy()
    others[:, c] = -np.inf
    return np.where(probs[:, c] >= threshold.value, c, others.argmax(-1))


def parse_threshold(spec: str, labels: list[str], run: str) -> Threshold:
    """``CLASS=P`` as given to ``--threshold``, checked against the classes of ``run``."""
    label, sep, value = spec.rpartition("=")
    example = f"e.g. --threshold {labels[-1]}=0.3"
    if not sep or not label:
        raise ConfigError(f"--threshold {spec}: give CLASS=P, the class to label when its probability reaches P "
                          f"({example})")
    if label not in labels:
        raise ConfigError(f"--threshold {spec}: {label!r} is not a class of {run}{did_you_mean(label, labels)}; its "
                          f"classes are {', '.join(labels)}")
    try:
        p = float(value)
    except ValueError:
        p = float("nan")
    if not 0.0 < p < 1.0:
        raise ConfigError(f"--threshold {spec}: P must be a probability between 0 and 1, exclusive ({example})")
    return Threshold(label, p)


def rare_class(y: np.ndarray, labels: list[str]) -> int | None:
    """The rarer class of a binary task's gold labels ``y``, when it is rare enough (``RARE_SHARE``) and seen
    often enough (``MIN_RARE``) for a threshold tuned on them to mean something; else None."""
    if len(labels) != 2 or len(y) == 0:
        return None
    counts = np.bincount(np.asarray(y), minlength=2)
    c = int(counts.argmin())
    return c if counts[c] / len(y) < RARE_SHARE and counts[c] >= MIN_RARE else None


def best_f1_threshold(hit: np.ndarray, p: np.ndarray) -> float:
    """The threshold on ``p`` whose rule ``p >= t`` has the best F1 against ``hit`` (bool); of equal F1s the
    one nearest 0.5, the argmax rule's own. It is put midway between the score that sets it and the next
    lower one, so that a score a little below the dev example that set it still counts."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(hit, p)  # thresholds: the distinct scores, ascending
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    k = int(best[np.abs(thresholds[best] - 0.5).argmin()])
    return float((thresholds[k] + (thresholds[k - 1] if k else 0.0)) / 2)


def tuned_threshold(dev_y: np.ndarray, dev_probs: np.ndarray, test_y: np.ndarray, test_probs: np.ndarray,
                    labels: list[str]) -> dict[str, Any] | None:
    """For a binary task with a rare class (``rare_class`` of dev): the threshold with the best F1 of that
    class on dev, and dev's and test's scores under it beside the argmax rule's; ``better_on_dev`` when it
    adds ``MIN_GAIN`` to dev's F1, and is worth proposing. None for other tasks."""
    from ctxlearn.evaluate.metrics import classification_metrics

    c = rare_class(dev_y, labels)
    if c is None:
        return None
    # Rounded as the report writes it in a --threshold flag, so the scores below are what that flag gives.
    value = min(max(round(best_f1_threshold(dev_y == c, dev_probs[:, c]), 3), 0.001), 0.999)
    threshold = Threshold(labels[c], value)
    rules = {"argmax": None, "threshold": threshold}

    def scores(y: np.ndarray, probs: np.ndarray, rule: Threshold | None) -> dict[str, float]:
        m = classification_metrics(y, probs, labels, rule)
        return {**{k: m["per_class"][threshold.label][k] for k in ("precision", "recall", "f1")},
                "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}

    dev = {name: scores(dev_y, dev_probs, rule) for name, rule in rules.items()}
    return {"label": threshold.label, "value": threshold.value, "dev_share": float(np.mean(dev_y == c)),
            "better_on_dev": dev["threshold"]["f1"] >= dev["argmax"]["f1"] + MIN_GAIN, "dev": dev,
            "test": {name: scores(test_y, test_probs, rule) for name, rule in rules.items()}}
