"""``compare --train-sizes``: the comparison at several numbers of training examples, and the curve."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctxlearn.compare.budget import BUDGETS
from ctxlearn.compare.curve import best_by_size, parse_sizes
from ctxlearn.compare.run import CompareConfig, cell_args, run_compare
from ctxlearn.errors import ConfigError


def test_the_comparison_runs_at_each_size_on_as_many_training_examples_and_stops_past_the_data(
        tiny_bert: Path, toy_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "curve"
    cfg = CompareConfig(data=str(toy_data), model=str(tiny_bert), methods="head", budget="quick", out=str(out),
                        train_sizes="1000,20,60,5000", extra=["--bf16", "off"])
    result = run_compare(cfg)["learning_curve"]
    assert [p["requested"] for p in result["points"]] == [20, 60, 1000]  # 5000 would repeat 1000's run on all 160
    assert [p["n_train"] for p in result["points"]] == [20, 60, 160]
    for n, folder in ((20, "n20"), (60, "n60"), (160, "n1000")):
        manifest = json.loads((out / folder / "cells" / "head-s0" / "manifest.json").read_text())
        assert manifest["data_sizes"] == {"train": n, "dev": 40, "test": 40}
    report = (out / "report.md").read_text()
    scores = [p["methods"][0]["test_accuracy"] for p in result["points"]]
    assert "| method | 20 | 60 | 160 (all) |" in report
    assert "| head | " + " | ".join(f"{100 * s:.1f}" for s in scores) + " |" in report
    assert "**Best at each size** (test accuracy): 20: head" in report and "[160](n1000/report.md)" in report
    assert "Not run: 5000, past the 160 training examples the data holds." in report
    assert "each size's training examples (stratified), at most 2 epochs, 1 seed" in report
    assert (out / "learning_curve.png").stat().st_size > 0
    page = (out / "report.html").read_text()  # self-contained, as each size's report.html
    assert page.count("data:image/png;base64,") == 1 and '<a href="n1000/report.html">160</a>' in page
    assert "<b>Best at each size</b> (test accuracy): 20: head" in page
    assert "20 training examples (stratified)" in (out / "n20" / "report.md").read_text()  # not the budget's 2,000
    capsys.readouterr()
    run_compare(cfg)  # a rerun keeps every cell
    assert capsys.readouterr().err.count("kept from an earlier run") == 3


@pytest.mark.parametrize("spec", ["", "abc", "0,100", "100,-5", "1.5"])
def test_sizes_that_are_not_counts_of_examples_are_refused_before_any_cell_runs(spec: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--train-sizes"):
        parse_sizes(spec)
    if spec:
        with pytest.raises(ConfigError, match="e.g. 100,500,2000"):
            CompareConfig(data="d", train_sizes=spec, out=str(tmp_path))


def test_sizes_run_smallest_first_each_once() -> None:
    assert parse_sizes("500, 100,100") == [100, 500]


def test_a_size_caps_every_cell_icl_s_demonstrations_too_and_replaces_the_budget_s_cap() -> None:
    cfg = CompareConfig(data="d", budget="quick")
    budget = cell_args(cfg, "head")
    assert budget[budget.index("--max-train") + 1] == "2000"
    assert "--max-train" not in cell_args(cfg, "icl")  # the budget leaves icl's pool whole, as before
    head, icl = cell_args(cfg, "head", 50), cell_args(cfg, "icl", 50)
    assert head[head.index("--max-train") + 1] == "50" and head.count("--max-train") == 1
    assert icl[icl.index("--max-train") + 1] == "50"


def test_the_budget_says_how_many_training_examples_a_size_used() -> None:
    quick = BUDGETS.get("quick")
    assert quick.describe(1, False, False, "50 training examples") == ("50 training examples (stratified), at most 2 "
                                                                       "epochs, 1 seed")


def test_the_best_method_at_each_size_follows_the_ranking() -> None:
    def row(method: str, acc: float, f1: float) -> dict:
        return {"method": method, "test_accuracy": acc, "test_macro_f1": f1, "task": "classification"}

    points = [{"n_train": 10, "methods": [row("icl", 0.8, 0.6), row("head", 0.7, 0.7)]},
              {"n_train": 100, "methods": [row("icl", 0.8, 0.6), row("head", 0.9, 0.9)]}]
    assert best_by_size(points, "accuracy") == [(10, "icl", 0.8), (100, "head", 0.9)]
    assert best_by_size(points, "macro_f1") == [(10, "head", 0.7), (100, "head", 0.9)]


def test_icl_seeds_drawing_other_demonstration_samples_run_again(toy_data: Path) -> None:
    from ctxlearn.compare.cells import Cell
    from ctxlearn.compare.run import same_icl_run

    cfg = CompareConfig(data=str(toy_data), methods="icl", seeds=2)  # given splits: the same for every seed
    first = {"method": "icl", "seed": 0, "test_accuracy": 0.75}
    assert same_icl_run(cfg, Cell("icl", 1), [first]) is not None
    assert same_icl_run(cfg, Cell("icl", 1), [first], max_train=30) is None  # each seed samples its own 30


@pytest.mark.parametrize("size, extra, epochs", [(32, [], "50"), (256, [], "6.25"), (2000, [], "2"),
                                                 (32, ["--batch-size", "16"], "25")])
def test_a_small_sample_trains_for_at_least_fifty_steps(size: int, extra: list, epochs: str) -> None:
    """32 examples under the quick budget's 2 epochs were 2 optimizer steps: lora scored 52% on SST-2."""
    args = cell_args(CompareConfig(data="d", budget="quick", extra=extra), "lora", size)
    assert args[args.index("--epochs") + 1] == epochs
    assert "--epochs" not in cell_args(CompareConfig(data="d", budget="quick"), "head", size)  # no steps to count
    assert "--epochs" not in cell_args(CompareConfig(data="d", budget="quick"), "icl", size)


def test_raised_epochs_are_scored_every_ten_steps_to_the_end_and_a_large_sample_keeps_the_budget() -> None:
    """With one step an epoch, patience 2 ended lora on 32 SST-2 examples after 4 of its 50 steps, and
    scoring dev after each of them took 312 s."""
    cfg = CompareConfig(data="d", budget="quick")
    assert cell_args(cfg, "lora", 32)[-6:] == ["--epochs", "50", "--evals-per-epoch", "0.1", "--patience", "0"]
    assert cell_args(cfg, "lora", 256)[-6:] == ["--epochs", "6.25", "--evals-per-epoch", "0.8", "--patience", "0"]
    assert cell_args(cfg, "lora", 2000)[-2:] == ["--epochs", "2"]  # 126 steps: the budget's epochs, its patience
    mine = cell_args(CompareConfig(data="d", budget="quick", extra=["--patience", "5"]), "lora", 32)
    assert mine.count("--patience") == 1 and mine[mine.index("--patience") + 1] == "5"


def test_a_cell_stopped_under_other_flags_starts_over_and_one_stopped_under_these_resumes(tmp_path: Path) -> None:
    from ctxlearn.compare.cells import start_over_if_changed

    folder = tmp_path / "lora-s0"
    partial = tmp_path / "lora-s0.partial"
    partial.mkdir()
    start_over_if_changed(folder, "key-a")  # no record of what it ran under: train --resume decides
    assert partial.is_dir() and (tmp_path / "lora-s0.started").read_text() == "key-a"
    start_over_if_changed(folder, "key-a")
    assert partial.is_dir()
    start_over_if_changed(folder, "key-b")
    assert not partial.exists() and (tmp_path / "lora-s0.started").read_text() == "key-b"


def test_the_cells_own_epochs_hold_at_a_size_whose_fifty_steps_they_reach() -> None:
    """-- --epochs 10 at 2,000 examples ran the quick budget's 2 (curve's --epochs came last and won), and at
    64 examples --epochs 1 became 25 while each size's report said "at most 2 epochs"."""
    from ctxlearn.compare.run import budget_text

    cfg = CompareConfig(data="d", budget="quick", extra=["--epochs", "10"])
    assert cell_args(cfg, "lora", 2000)[-2:] == ["--epochs", "10"]
    assert cell_args(CompareConfig(data="d", budget="quick", extra=["--epochs=1"]), "lora", 64)[-6:-4] == ["--epochs",
                                                                                                          "25"]
    text = budget_text(cfg, 1, False, False, max_train=64)
    assert "the cells' own --epochs (after --) in place of the budget's" in text
    assert "take at least 50 steps, a small sample's epochs raised to reach them" in text
    assert "at least 50 steps" not in budget_text(CompareConfig(data="d", budget="quick"), 1, False, False)
