from __future__ import annotations

import numpy as np
import pytest

from ctxlearn.evaluate.metrics import (accuracy_interval, below_majority, calibration_bins, classification_metrics,
                                      expected_calibration_error, majority, only_class)


def test_hand_checked_three_class_example() -> None:
    # gold: a a a b b c ; predicted: a a b b c c
    y = np.array([0, 0, 0, 1, 1, 2])
    pred = [0, 0, 1, 1, 2, 2]
    probs = np.eye(3)[pred] * 0.7 + 0.1
    m = classification_metrics(y, probs, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    # a: P 2/2 R 2/3; b: P 1/2 R 1/2; c: P 1/2 R 1/1
    assert m["per_class"]["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert m["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["micro_f1"] == pytest.approx(4 / 6)
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # Wilson, z = 1.96: centre (4/6 + z^2/12) / (1 + z^2/6) = 0.6016, half-width 0.3016
    assert (m["accuracy_low"], m["accuracy_high"]) == pytest.approx((0.3000, 0.9032), abs=2e-4)


def test_the_accuracy_interval_narrows_as_the_split_grows() -> None:
    widths = []
    for n in (10, 100, 1000):
        y = np.zeros(n, dtype=int)
        probs = np.eye(2)[(np.arange(n) % 5 == 0).astype(int)]  # 80% right
        m = classification_metrics(y, probs, ["a", "b"])
        assert m["accuracy"] == pytest.approx(0.8) and m["accuracy_low"] < 0.8 < m["accuracy_high"]
        widths.append(m["accuracy_high"] - m["accuracy_low"])
    assert accuracy_interval(0, 0) == (0.0, 1.0)
    assert widths[0] > 0.4 and widths[1] == pytest.approx(0.16, abs=0.01) and widths[2] == pytest.approx(0.05, abs=0.003)


def test_ece_of_hand_made_bins() -> None:
    # four predictions at confidence 0.9 (three right) and two at 0.6 (one right)
    probs = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 2)
    y = np.array([0, 0, 0, 1, 0, 1])
    expected = 4 / 6 * abs(0.75 - 0.9) + 2 / 6 * abs(0.5 - 0.6)
    assert expected_calibration_error(probs, y) == pytest.approx(expected)


def test_the_reliability_bins_are_those_the_ece_weighs() -> None:
    probs = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 2)
    y = np.array([0, 0, 0, 1, 0, 1])
    bins = calibration_bins(probs, y, bins=10)
    flat = [v for b in bins for v in (b["low"], b["high"], b["share"], b["confidence"], b["accuracy"])]
    assert flat == pytest.approx([0.5, 0.6, 2 / 6, 0.6, 0.5, 0.8, 0.9, 4 / 6, 0.9, 0.75])
    assert classification_metrics(y, probs, ["a", "b"])["reliability"] == calibration_bins(probs, y)


def test_perfectly_calibrated_is_zero() -> None:
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(probs, np.array([0, 1])) == 0.0


def test_macro_averages_over_the_classes_in_gold_or_predictions() -> None:
    # c is in neither: its F1 is 0/0, not 0, and must not pull perfect predictions below 1 (as sklearn
    # without ``labels`` and seqeval average); it still gets its row
    y = np.array([0, 0, 1, 1])
    m = classification_metrics(y, np.eye(3)[y], ["a", "b", "c"])
    assert m["macro_f1"] == m["macro_precision"] == m["macro_recall"] == 1.0
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # a class predicted but never gold counts (its precision is 0)
    m = classification_metrics(y, np.eye(3)[[0, 0, 1, 2]], ["a", "b", "c"])
    assert m["macro_f1"] == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)


def test_only_class_names_a_prediction_given_to_every_row_where_gold_holds_several() -> None:
    gold = np.array([0, 1, 2, 1])
    assert only_class(np.eye(3)[[1, 1, 1, 1]], gold) == 1
    assert only_class(np.eye(3)[[1, 1, 0, 1]], gold) is None  # two classes predicted
    assert only_class(np.eye(3)[[2, 2]], np.array([2, 2])) is None  # gold holds one class: nothing to say


def test_the_majority_baseline_is_always_answering_the_split_s_most_common_class() -> None:
    y = np.array([1, 1, 1, 0, 1, 2, 1, 0])  # b five times in eight
    assert majority(y, ["a", "b", "c"]) == ("b", 5 / 8)
    assert majority(np.array([], dtype=int), ["a"]) == ("", 0.0)
    wrong = np.eye(3)[[0, 0, 0, 1, 2, 2, 1, 1]]  # two of eight right
    m = classification_metrics(y, wrong, ["a", "b", "c"])
    assert (m["majority_class"], m["majority_accuracy"], m["accuracy"]) == ("b", 5 / 8, 2 / 8)
    assert below_majority(m) == "accuracy 0.250 is below the 0.625 of always answering 'b', the most common class"
    assert below_majority(classification_metrics(y, np.eye(3)[[1] * 8], ["a", "b", "c"])) is None  # equal: not below
    assert below_majority({"accuracy": 0.1}) is None  # metrics from before the baseline was kept
