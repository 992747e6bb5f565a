"""Decision rules: the most probable class, or one class from a threshold; a threshold tuned on dev."""
from __future__ import annotations

import numpy as np
import pytest

from ctxlearn.errors import ConfigError
from ctxlearn.evaluate import classification_metrics
from ctxlearn.evaluate.decision import (Threshold, best_f1_threshold, decide, parse_threshold, rare_class,
                                        tuned_threshold)

LABELS = ["ham", "spam"]


def test_a_threshold_labels_its_class_where_reached_and_the_best_other_class_elsewhere() -> None:
    probs = np.array([[0.7, 0.3], [0.8, 0.2], [0.4, 0.6]])
    assert decide(probs, LABELS).tolist() == [0, 0, 1]
    assert decide(probs, LABELS, Threshold("spam", 0.25)).tolist() == [1, 0, 1]
    assert decide(probs, LABELS, Threshold("spam", 0.7)).tolist() == [0, 0, 0]
    three = np.array([[0.5, 0.3, 0.2], [0.2, 0.1, 0.7]])  # a class below its threshold is not picked, argmax or not
    assert decide(three, ["a", "b", "c"], Threshold("a", 0.6)).tolist() == [1, 2]


@pytest.mark.parametrize("spec, message", [
    ("0.3", "give CLASS=P"), ("=0.3", "give CLASS=P"),
    ("Spam=0.3", "'Spam' is not a class of run (did you mean 'spam'?)"),
    ("spam=1", "between 0 and 1"), ("spam=0", "between 0 and 1"), ("spam=high", "between 0 and 1")])
def test_a_threshold_that_cannot_be_applied_is_refused_saying_what_would_be_right(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match="--threshold") as err:
        parse_threshold(spec, LABELS, "run")
    assert message in str(err.value)


def test_a_class_name_may_hold_an_equals_sign() -> None:
    assert parse_threshold("a=b=0.25", ["a=b", "c"], "run") == Threshold("a=b", 0.25)


def test_only_a_binary_tasks_rare_and_well_seen_class_is_tuned() -> None:
    rare = np.array([1] * 12 + [0] * 88)
    assert rare_class(rare, LABELS) == 1
    assert rare_class(np.array([1] * 40 + [0] * 60), LABELS) is None  # 40%: balanced enough
    assert rare_class(np.array([1] * 5 + [0] * 20), LABELS) is None  # 5 examples: too few to tune on
    assert rare_class(np.array([2] * 12 + [0] * 88), ["a", "b", "c"]) is None  # three classes


def test_the_best_f1_threshold_sits_midway_below_the_score_that_sets_it_nearest_one_half() -> None:
    hit = np.array([False, False, True, True])
    assert best_f1_threshold(hit, np.array([0.1, 0.2, 0.3, 0.9])) == pytest.approx(0.25)
    # F1 1.0 from any threshold in (0.2, 0.8]: the plateau's score nearest 0.5 sets it
    assert best_f1_threshold(hit, np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(0.5)


def _scores(rng: np.random.Generator, n: int, rare_share: float) -> tuple[np.ndarray, np.ndarray]:
    """A model that under-rates the rare class: its texts score 0.2-0.6 for it, the others 0-0.3."""
    y = (rng.random(n) < rare_share).astype(int)
    p = np.where(y == 1, rng.uniform(0.2, 0.6, n), rng.uniform(0.0, 0.3, n))
    return y, np.stack([1 - p, p], 1)


def test_a_threshold_tuned_on_dev_is_proposed_when_it_lifts_the_rare_class_and_scored_on_test() -> None:
    rng = np.random.default_rng(0)
    (dev_y, dev_p), (test_y, test_p) = _scores(rng, 400, 0.15), _scores(rng, 400, 0.15)
    tuned = tuned_threshold(dev_y, dev_p, test_y, test_p, LABELS)
    assert tuned["label"] == "spam" and 0.2 < tuned["value"] < 0.35 and tuned["better_on_dev"]
    assert tuned["dev"]["threshold"]["f1"] > tuned["dev"]["argmax"]["f1"] + 0.1
    at = classification_metrics(test_y, test_p, LABELS, Threshold("spam", tuned["value"]))
    assert tuned["test"]["threshold"]["recall"] == at["per_class"]["spam"]["recall"] > tuned["test"]["argmax"]["recall"]
    assert tuned["test"]["threshold"]["accuracy"] == at["accuracy"]
    assert at["threshold"] == {"label": "spam", "value": tuned["value"]}


def test_no_threshold_is_proposed_where_the_most_probable_class_already_does_best() -> None:
    y = np.array([1] * 20 + [0] * 80)
    probs = np.eye(2)[y] * 0.8 + 0.1  # every text right, at 0.9
    tuned = tuned_threshold(y, probs, y, probs, LABELS)
    assert not tuned["better_on_dev"] and tuned["dev"]["threshold"]["f1"] == tuned["dev"]["argmax"]["f1"] == 1.0
    assert tuned_threshold(np.array([0, 1] * 50), np.eye(2)[[0, 1] * 50], y, probs, LABELS) is None  # balanced
