from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ctxlearn.evaluate import classification_metrics, write_report
from ctxlearn.evaluate.report import confusion_text


def test_report_files(tmp_path: Path) -> None:
    labels = ["neg", "pos"]
    y = np.array([0, 1, 1, 0])
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]])
    m = classification_metrics(y, probs, labels)
    manifest = {"method": "full", "data": "toy", "model": "tiny", "seed": 0,
                "cost": {"trainable_params": 10, "total_params": 100, "train_seconds": 1.0}}
    write_report(tmp_path, {"dev": m, "test": m}, manifest, labels)
    assert json.loads((tmp_path / "metrics.json").read_text())["test"]["accuracy"] == 0.75
    png = (tmp_path / "confusion.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    report = (tmp_path / "report.md").read_text()
    assert "| test | 4 | 0.7500 | 0.301-0.954 |" in report and "10 of 100 (10.00%)" in report  # 3 of 4: Wilson by hand
    assert confusion_text(m["confusion"], labels).splitlines()[1].split() == ["neg", "2", "0"]


def _cost_section(tmp_path: Path, cost: dict) -> str:
    labels = ["neg", "pos"]
    m = classification_metrics(np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]), labels)
    manifest = {"method": "x", "data": "toy", "model": "tiny", "seed": 0, "cost": cost}
    write_report(tmp_path, {"test": m}, manifest, labels)
    return (tmp_path / "report.md").read_text().split("## Cost")[1]


def test_cost_says_what_each_kind_of_run_did(tmp_path: Path) -> None:
    trained = _cost_section(tmp_path, {"trainable_params": 10, "total_params": 100, "train_tokens_per_s": 3312.6,
                                       "steady_train_tokens_per_s": 3400.2, "predict_ms_per_example": 1.234})
    assert "useful training tokens/s: 3,313 over the run, 3,400 between evaluations" in trained
    assert "prediction, batched: 1.23 ms per example" in trained
    head = _cost_section(tmp_path, {"trainable_params": 770, "total_params": 100, "train_tokens_per_s": 0.0})
    assert "tokens/s" not in head and "frozen backbone's features" in head
    assert "from ctxlearn's cache" not in head
    labels = ["neg", "pos"]
    m = classification_metrics(np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]), labels)
    write_report(tmp_path, {"test": m}, {"method": "head", "data": "toy", "model": "tiny", "seed": 0,
                                         "cost": {"trainable_params": 770, "total_params": 100},
                                         "training": {"features_cached": True}}, labels)
    assert ("features, read from ctxlearn's cache (an earlier run computed them), so the train time leaves out the "
            "backbone's pass over the data") in (tmp_path / "report.md").read_text()
    prompted = _cost_section(tmp_path, {"trainable_params": 0, "total_params": 100, "train_tokens_per_s": 0.0})
    assert "tokens/s" not in prompted and "training: none" in prompted


@pytest.mark.parametrize("labels", [["negative", "positive"], ["a", "b"], ["entailment", "not_entailment"]])
def test_confusion_text_keeps_every_column_apart_and_aligned(labels: list[str]) -> None:
    """'gold \\ pred' is longer than 'negative': the header ran into the first label ('prednegative')."""
    text = confusion_text([[366, 546], [118, 123456]], labels)
    head, *rows = text.splitlines()
    assert head.split()[-2:] == labels and rows[0].split() == [labels[0], "366", "546"]
    assert rows[1].split() == [labels[1], "118", "123456"]
    assert {len(line) for line in (head, *rows)} == {len(head)}  # right-aligned columns end together


def test_the_report_gives_the_majority_baseline_and_says_when_the_model_is_below_it(tmp_path: Path) -> None:
    y = np.array([0, 0, 0, 1])
    manifest = {"method": "icl", "data": "d", "model": "m", "seed": 0, "cost": {}}
    for pred, below in (([0, 0, 0, 1], False), ([1, 1, 0, 1], True)):
        write_report(tmp_path, {"test": classification_metrics(y, np.eye(2)[pred], ["ham", "spam"])}, manifest,
                     ["ham", "spam"])
        report = (tmp_path / "report.md").read_text()
        assert "Baseline: always answering `ham`, the most common test class, scores accuracy 0.7500." in report
        assert ("**The model scores below it**" in report) is below


def test_the_report_lists_the_test_errors_the_model_was_surest_of(tmp_path: Path) -> None:
    from ctxlearn.data.example import Example
    from ctxlearn.evaluate.report import confident_errors

    labels = ["neg", "pos"]
    examples = [Example("fine | good", "pos", line=2), Example("awful", "neg", line=3),
                Example("meh " * 60, "pos", line=4), Example("a", "neg", text_pair="b", line=5)]
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])  # lines 2, 4 and 5 are wrong
    errors = confident_errors(examples, probs, labels)
    assert [(e.line, e.gold, e.pred, e.confidence) for e in errors] == [
        (2, "pos", "neg", 0.9), (5, "neg", "pos", 0.7), (4, "pos", "neg", 0.6)]
    assert errors[1].text == "a / b" and [e.line for e in confident_errors(examples, probs, labels, k=1)] == [2]
    manifest = {"method": "full", "data": "toy", "model": "tiny", "seed": 0, "cost": {}}
    metrics = classification_metrics(np.array([1, 0, 1, 0]), probs, labels)
    write_report(tmp_path, {"test": metrics}, manifest, labels, errors[:2])
    report = (tmp_path / "report.md").read_text()
    assert "## Test errors, the surest first (2 of 3; all in test_predictions.jsonl)" in report
    assert "| 2 | pos | neg | 0.900 | fine \\| good |" in report  # a pipe would end the cell
    write_report(tmp_path, {"test": metrics}, manifest, labels, errors[2:])
    assert f"| 4 | pos | neg | 0.600 | {('meh ' * 60)[:149].strip()}… |" in (tmp_path / "report.md").read_text()
    write_report(tmp_path, {"test": metrics}, manifest, labels)
    assert "## Test errors" not in (tmp_path / "report.md").read_text()  # none given: no section


def test_the_report_shows_calibration_as_a_reliability_diagram(tmp_path: Path) -> None:
    manifest = {"method": "icl", "data": "d", "model": "m", "seed": 0, "cost": {}}
    y = np.array([0, 0, 1, 1])
    sure = classification_metrics(y, np.array([[0.9, 0.1], [0.1, 0.9], [0.1, 0.9], [0.9, 0.1]]), ["a", "b"])
    write_report(tmp_path, {"test": sure}, manifest, ["a", "b"])
    report = (tmp_path / "report.md").read_text()
    assert ("Expected calibration error 0.4000: on average over test, the model's confidence and its accuracy differ "
            "by 40.0 points; overall it is surer than it is right (40.0 points).") in report  # 90% sure, half right
    assert "![reliability](reliability.png)" in report
    assert (tmp_path / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    unsure = classification_metrics(y, np.array([[0.6, 0.4], [0.6, 0.4], [0.4, 0.6], [0.4, 0.6]]), ["a", "b"])
    write_report(tmp_path, {"test": unsure}, manifest, ["a", "b"])
    assert "overall it is less sure than it is right (40.0 points)" in (tmp_path / "report.md").read_text()


def test_the_report_proposes_a_threshold_tuned_on_dev_only_where_it_helps_there(tmp_path: Path) -> None:
    from ctxlearn.evaluate.decision import tuned_threshold

    manifest = {"method": "head", "data": "d", "model": "m", "seed": 0, "cost": {}}
    labels = ["ham", "spam"]
    y = np.array([1] * 20 + [0] * 80)
    under = np.where(y == 1, np.linspace(0.3, 0.45, 100), np.linspace(0.0, 0.2, 100))  # spam scored 0.3-0.45
    for probs, proposed in ((np.stack([1 - under, under], 1), True), (np.eye(2)[y] * 0.8 + 0.1, False)):
        test = classification_metrics(y, probs, labels)
        test["tuned_threshold"] = tuned_threshold(y, probs, y, probs, labels)
        write_report(tmp_path, {"test": test}, manifest, labels)
        report = (tmp_path / "report.md").read_text()
        assert "## Decision threshold" in report and "`spam` is 20% of dev." in report
        assert ("To label with it: `ctxlearn predict RUN --input FILE --output FILE --threshold spam=0.25`" in report) \
            is proposed
        assert ("so keep that; the best, p ≥ 0.5, against it:" in report) is not proposed
        if proposed:  # dev and test are one here: every spam text under 0.5, every one above 0.25
            assert "| the most probable class (p ≥ 0.5) | 0.000 | 0.000 | 0.000 | 0.000 | 0.800 | 0.444 |" in report
            assert "| p ≥ 0.25 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 |" in report


def test_a_report_scored_with_a_threshold_says_so_and_a_balanced_run_has_no_threshold_section(tmp_path: Path) -> None:
    from ctxlearn.evaluate.decision import Threshold

    manifest = {"method": "head", "data": "d", "model": "m", "seed": 0, "cost": {}}
    y, probs = np.array([0, 1, 1, 0]), np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]])
    write_report(tmp_path, {"test": classification_metrics(y, probs, ["a", "b"], Threshold("b", 0.35))}, manifest,
                 ["a", "b"])
    report = (tmp_path / "report.md").read_text()
    assert ("Labels here are decided by a threshold: `b` wherever its probability is at least 0.35, else the most "
            "probable other class.") in report and "| test | 4 | 1.0000 |" in report
    write_report(tmp_path, {"test": classification_metrics(y, probs, ["a", "b"])}, manifest, ["a", "b"])
    report = (tmp_path / "report.md").read_text()
    assert "threshold" not in report and "| test | 4 | 0.7500 |" in report


def _report(tmp_path: Path, **manifest: object) -> str:
    labels = ["neg", "pos"]
    m = classification_metrics(np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]), labels)
    write_report(tmp_path, {"test": m}, {"method": "lora", "data": "d", "model": "m", "seed": 0, "cost": {},
                                         **manifest}, labels)
    return (tmp_path / "report.md").read_text()


def test_the_report_says_how_big_each_split_is_and_where_it_came_from(tmp_path: Path) -> None:
    """A test split cut from train (a folder of train and dev, as SuperGLUE's CB comes) showed only its n:
    the report now says it is a share of train, not a file of its own."""
    sources = {"train": "cb/train.jsonl", "test": "10% of cb/train.jsonl (stratified, seed 0)", "dev": "cb/dev.jsonl"}
    report = _report(tmp_path, data_sources=sources, data_sizes={"train": 2250, "dev": 56, "test": 25})
    data = report.split("## Data")[1].split("##")[0]
    assert "| split | examples | from |" in data and "| train | 2,250 | the rest of cb/train.jsonl |" in data
    assert "| test | 25 | 10% of cb/train.jsonl (stratified, seed 0) |" in data
    assert [row.split("|")[1].strip() for row in data.splitlines()[4:7]] == ["train", "dev", "test"]
    icl = _report(tmp_path, method="icl", data_sources=sources, data_sizes={"train": 225, "dev": 0, "test": 25})
    assert "| train (the demonstration pool) | 225 |" in icl and "| dev |" not in icl  # an empty split is left out
    limited = _report(tmp_path, method="icl", data_sources=sources, data_sizes={"train": 225, "dev": 56, "test": 477},
                      data_scored={"test": 60})  # icl --limit 60, without --dev: the report's n was 60, its table 477
    assert "| test | 60 of 477 | 10% of cb/train.jsonl (stratified, seed 0); the first 60 scored (--limit) |" in limited
    assert "| dev | 56 | cb/dev.jsonl; not scored |" in limited
    whole = _report(tmp_path, method="icl", data_sources=sources, data_sizes={"train": 225, "dev": 56, "test": 25},
                    data_scored={"test": 25, "dev": 56})
    assert "| test | 25 | 10% of cb/train.jsonl (stratified, seed 0) |" in whole
    assert "| dev | 56 | cb/dev.jsonl |" in whole
    tagged = _report(tmp_path, task="tagging", data_sources={"train": "a|b.conll"}, data_sizes={"train": 9})
    assert "| split | sentences | from |" in tagged and "| train | 9 | a\\|b.conll |" in tagged
    files = _report(tmp_path, data_sources={"train": "t.csv", "test": "u.csv"}, data_sizes={"train": 9, "test": 3})
    assert "| train | 9 | t.csv |" in files  # nothing was cut from it
    older = _report(tmp_path, data_sources={"train": "t.csv"})  # saved before the sizes were kept
    assert "| train | – | t.csv |" in older
    assert "## Data" not in _report(tmp_path, evaluates="runs/x", scored="h.csv")
