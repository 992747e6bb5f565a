"""``ctxlearn compare`` on a tiny model: every cell runs once, results aggregate, a rerun resumes."""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from ctxlearn.compare.aggregate import aggregate, recommend
from ctxlearn.compare.cells import cell_key, cell_result, data_digest, kept_result
from ctxlearn.compare.command import command_line
from ctxlearn.compare.run import CompareConfig, cell_seconds, run_compare
from ctxlearn.errors import ConfigError


def test_compare_runs_cells_and_resumes(tiny_bert: Path, toy_data: Path, tmp_path: Path, capsys) -> None:
    cfg = CompareConfig(data=str(toy_data), model=str(tiny_bert), methods="head,topk", seeds=2, budget="quick",
                        out=str(tmp_path / "cmp"), extra=["--bf16", "off", "--lr", "3e-3"], estimate=True)
    first = run_compare(cfg)
    assert json.loads((tmp_path / "cmp" / "command.json").read_text())["argv"] == command_line(cfg)  # `ctxlearn runs`
    assert set(json.loads((tmp_path / "cmp" / "estimates.json").read_text())) == {"head", "topk"}
    results = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert [r["method"] for r in results["methods"]] == ["head", "topk"]
    assert [(c["method"], c["seed"]) for c in results["cells"]] == [("head", 0), ("topk", 0), ("head", 1), ("topk", 1)]
    head = results["methods"][0]
    accs = [c["test_accuracy"] for c in results["cells"] if c["method"] == "head"]
    assert head["test_accuracy"] == pytest.approx(sum(accs) / 2)
    assert head["trainable_params"] == 66 and head["artifact_mb"] > 0 and head["peak_rss_mb"] > 0
    topk = results["methods"][1]["estimate"]
    assert topk["epoch_seconds"] > 0 and topk["actual_epoch_seconds"] > 0 and topk["actual_peak_rss_mb"] > 0
    assert "s/epoch est. / actual" in (tmp_path / "cmp" / "report.md").read_text()
    assert head["majority_accuracy"] == results["cells"][0]["majority_accuracy"] > 0
    assert f"Always answering `{head['majority_class']}`, the most common test class" in (
        tmp_path / "cmp" / "report.md").read_text()
    wall = sum(c["wall_seconds"] for c in results["cells"])
    assert results["meta"]["cells_wall_seconds"] == pytest.approx(wall) and wall > 0
    # the processes' time, which the progress lines add up to, and not only their runs' (start-up left out)
    whole = sum(c["process_seconds"] for c in results["cells"])
    assert results["meta"]["cells_process_seconds"] == pytest.approx(whole) and whole > wall
    assert (f"The 4 cells took {whole / 60:.1f} min in all, each in its own process ({wall / 60:.1f} min of it in "
            "their runs" in (tmp_path / "cmp" / "report.md").read_text())
    assert results["meta"]["budget_help"] == "2,000 training examples (stratified), at most 2 epochs, 2 seeds"
    page = (tmp_path / "cmp" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and first["recommendation"]["text"] in page.replace("&#x27;", "'")

    stamp = (tmp_path / "cmp" / "cells" / "topk-s1" / "manifest.json").stat().st_mtime
    # the cells' warnings, once each: every cell warned of the small dev split, only in its log
    said = [line.strip() for line in capsys.readouterr().err.splitlines() if "ctxlearn: warning:" in line]
    assert len(said) == len(set(said))
    assert sum(line.startswith("ctxlearn: warning: dev: 40 examples") for line in said) == 1
    # and in the report, once each, for reading later: a warning every cell gave names no cell
    small_dev = next(line for line in said if "dev: 40 examples" in line).removeprefix("ctxlearn: warning: ")
    assert results["meta"]["warnings"][small_dev] == ["head-s0", "topk-s0", "head-s1", "topk-s1"]
    assert f"## Warnings the cells gave ({len(said)})\n" in (tmp_path / "cmp" / "report.md").read_text()
    assert f"\n- {small_dev}\n" in (tmp_path / "cmp" / "report.md").read_text()
    run_compare(cfg)
    err = capsys.readouterr().err
    assert err.count("kept from an earlier run") == 4 and "[estimate]" not in err  # estimates are kept too
    lines = err.splitlines()  # each kept cell's score under its name, as a cell that runs: four scores, no names
    assert [lines[i - 1] for i, line in enumerate(lines) if "kept from an earlier run" in line] == [
        "[1/4] head seed 0", "[2/4] topk seed 0", "[3/4] head seed 1", "[4/4] topk seed 1"]
    kept = json.loads((tmp_path / "cmp" / "results.json").read_text())["meta"]
    assert kept["cells_process_seconds"] is None  # kept cells' start-up was not timed: their runs' time alone
    assert (f"The 4 cells took {kept['cells_wall_seconds'] / 60:.1f} min of wall time in their runs, each in its own "
            "process (the processes' start-up not counted)" in (tmp_path / "cmp" / "report.md").read_text())
    assert (tmp_path / "cmp" / "cells" / "topk-s1" / "manifest.json").stat().st_mtime == stamp
    folder = tmp_path / "cmp" / "cells" / "topk-s1"
    key = (tmp_path / "cmp" / "cells" / "topk-s1.key").read_text()
    assert kept_result(folder, key) is not None and kept_result(folder, key + "0") is None


def test_a_cell_key_changes_with_the_data_bytes_the_flags_and_the_seed(toy_data: Path) -> None:
    """An edited data file or another --budget reused the old cells into a new comparison."""
    args = ["--data", str(toy_data), "--max-train", "2000"]
    key = cell_key(args, data_digest(str(toy_data)))
    assert cell_key(list(args), data_digest(str(toy_data))) == key
    assert cell_key([*args[:-1], "500"], data_digest(str(toy_data))) != key
    (toy_data / "runs" / "cmp").mkdir(parents=True)  # a comparison writing into the folder it reads
    (toy_data / "runs" / "cmp" / "results.json").write_text("{}")
    (toy_data / "notes.md").write_text("what the data are")
    assert cell_key(args, data_digest(str(toy_data))) == key  # only the split files count
    (toy_data / "dev.jsonl").write_text((toy_data / "dev.jsonl").read_text() + "\n")  # one byte more
    assert cell_key(args, data_digest(str(toy_data))) != key
    trec, spam = (cell_key(["--data", f"builtin:{n}"], data_digest(f"builtin:{n}")) for n in ("trec", "sms-spam"))
    assert trec != spam  # a built-in set has no files: its name stands for it


def _row(method: str, acc: float, params: int, secs: float) -> dict:
    return {"method": method, "test_accuracy": acc, "test_macro_f1": acc, "trainable_params": params,
            "total_params": 1000, "train_seconds": secs, "peak_rss_mb": 1.0, "predict_ms_per_example": 1.0,
            "artifact_mb": 1.0}


@pytest.mark.parametrize("mb, shown", [(86.1, "86.1 MB"), (0.1, "0.1 MB"), (3216 / 2**20, "3 KB")])
def test_artifact_sizes_under_a_tenth_of_a_megabyte_show_in_kilobytes(mb: float, shown: str) -> None:
    from ctxlearn.compare.aggregate import size

    assert size(mb) == shown


def test_recommendation_picks_cheapest_within_one_point() -> None:
    rows = aggregate([_row("full", 0.90, 1000, 100), _row("full", 0.92, 1000, 100), _row("lora", 0.905, 10, 50),
                      _row("lora", 0.905, 10, 50), _row("head", 0.80, 1, 5), _row("head", 0.80, 1, 5)])
    full = rows[0]
    assert full["test_accuracy"] == pytest.approx(0.91) and full["test_accuracy_std"] == pytest.approx(0.01414, abs=1e-4)
    assert full["test_f1"] is None and full["test_f1_std"] is None  # a classifier has no entity F1: not a score of 0
    rec = recommend(rows)
    assert rec["best"] == "full" and rec["cheapest_within"] == "lora"
    from ctxlearn.compare.report import roles

    assert roles(rows, rec) == ["best", "cheapest", "other"]  # the colours the plots give each method


@pytest.mark.parametrize("icl_ms, fastest", [(240.0, "head"), (1.5, None)])
def test_recommendation_names_the_fastest_to_predict_when_the_cheapest_is_much_slower(icl_ms: float,
                                                                                       fastest: str | None) -> None:
    rows = aggregate([{**_row("head", 0.95, 770, 1), "predict_ms_per_example": 6.0},
                      {**_row("icl", 0.95, 0, 0), "predict_ms_per_example": icl_ms}])
    rec = recommend(rows)
    assert rec["cheapest_within"] == "icl" and rec.get("fastest_within") == fastest
    said = "Fastest to predict within 1 point: head (6.00 ms per example, against 240.00 for icl)."
    assert (said in rec["text"]) is (fastest is not None)


@pytest.mark.parametrize("n_test, accuracies, inside, says", [
    (25, (0.72, 0.72, 0.64), ["lora", "icl"], "lora and icl score inside it, so this test split cannot rank them"),
    (1821, (0.892, 0.884, 0.817), ["lora"], "lora scores inside it, so this test split cannot rank it"),
    (10_000, (0.90, 0.85, 0.80), [], "every other method scores below it")])
def test_recommendation_says_which_methods_the_test_split_cannot_rank(n_test: int, accuracies: tuple, inside: list,
                                                                       says: str) -> None:
    """A 25-example test split (CB cut from train) put head, lora and icl at 72, 72 and 64%: a 1-point
    recommendation there needs the interval beside it."""
    rows = aggregate([{**_row(m, acc, 10, 1), "n_test": n_test} for m, acc in zip(("full", "lora", "icl"), accuracies)])
    rec = recommend(rows)
    low, high = rec["interval"]
    assert low < accuracies[0] < high and rec["within_interval"] == inside and says in rec["text"]
    assert f"On {n_test:,} test examples the best accuracy's 95% interval is {100 * low:.1f}-{100 * high:.1f}%" in rec["text"]


def test_a_method_below_the_interval_by_less_than_its_seed_spread_is_not_called_worse() -> None:
    """SST-2 cut to 200 training examples, 3 seeds: "every other method scores below it" beside lora at
    72.7 ± 1.2 and an interval from 72.7, which its seeds' own spread reached (one seed scored 74.0)."""
    n, best = 1821, [0.7540, 0.7460, 0.7500]  # mean 75.0: interval from about 73.0
    lora = [0.7397, 0.7150, 0.7260]  # mean 72.69, std 1.2: reaches 73.0
    cells = [{**_row("full", a, 1000, 1), "n_test": n} for a in best]
    cells += [{**_row("lora", a, 10, 1), "n_test": n} for a in lora]
    cells += [{**_row("head", a, 1, 1), "n_test": n} for a in (0.60, 0.61, 0.62)]  # far below, whatever the spread
    rec = recommend(aggregate(cells))
    low = rec["interval"][0]
    assert 0.7269 < low < 0.7269 + 0.012 and rec["within_interval"] == [] and rec["near_interval"] == ["lora"]
    assert ("every other method scores below it; though lora is below it by less than the spread over seeds or the "
            "rounding shown, so not clearly worse.") in rec["text"]
    one_seed = recommend(aggregate([cells[0], cells[3], cells[6]]))  # one seed has no spread: lora's 74.0 is inside
    assert one_seed["within_interval"] == ["lora"] and one_seed["near_interval"] == []


def test_tagging_recommendation_has_no_accuracy_interval() -> None:
    rows = aggregate([{**_row(m, 0.5, 10, 1), "task": "tagging", "test_f1": f, "n_test": 25}
                      for m, f in (("full", 0.7), ("lora", 0.69))])
    rec = recommend(rows)
    assert rec["best"] == "full" and "interval" not in rec and "Wilson" not in rec["text"]


def test_unknown_method_fails_before_training(tmp_path: Path) -> None:
    from ctxlearn.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown method 'lorra'"):
        run_compare(CompareConfig(data="x", methods="full,lorra", out=str(tmp_path)))
    with pytest.raises(ConfigError, match=r"method 'icll' \(did you mean 'icl'\?\); choose one of: full, .*, icl$"):
        run_compare(CompareConfig(data="x", methods="head,icll", out=str(tmp_path)))  # icl was missing from the list


@pytest.mark.parametrize("methods, message", [
    ("head,lora,head", "--methods 'head,lora,head': head listed more than once; list each method once"),
    (" , ", "--methods ' , ': no method named; e.g. head,lora"),
])
def test_a_repeated_or_empty_method_list_is_refused_before_training(tmp_path: Path, methods: str, message: str) -> None:
    """head,head ran head-s0 twice: the report counted one result as two seeds ("head | 2 | 83.7 ± 0.0")."""
    from ctxlearn.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        run_compare(CompareConfig(data="x", methods=methods, out=str(tmp_path)))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("data, extra, methods, error", [
    ("missing.csv", [], "head,lora", r"missing.csv: no such file"),
    ("bad.csv", [], "head,icl", r"bad.csv:1: field 'text': not found; .* likely --text-field review"),
    ("bad.csv", [], "icl", r"bad.csv:1: field 'text': not found"),  # icl alone reads the data as train does
    ("good.csv", ["--lrr", "1"], "head", r"the train cells' flags \(those after --\): unrecognized argument --lrr "
                                         r"\(did you mean '--lr'\?\)"),
    ("good.csv", ["--lr", "-1"], "head", r"lr must be >= 0"),
])
def test_the_data_and_the_cells_flags_are_checked_before_any_cell_runs(tmp_path: Path, monkeypatch, data: str,
                                                                         extra: list, methods: str, error: str) -> None:
    """A missing file, a field not found or a mistyped train flag failed in the first cell, 12 s on, leaving
    a folder of cells behind."""
    from ctxlearn.compare import run
    from ctxlearn.errors import CtxlearnError

    monkeypatch.setattr(run, "run_cell", lambda *a: pytest.fail("a cell ran"))
    rows = "".join(f"a review of {i} words,{'pos' if i % 2 else 'neg'}\n" for i in range(40))
    (tmp_path / "good.csv").write_text("text,label\n" + rows)
    (tmp_path / "bad.csv").write_text("review,label\n" + rows)
    out = tmp_path / "cmp"
    with pytest.raises(CtxlearnError, match=error):
        run_compare(CompareConfig(data=str(tmp_path / data), methods=methods, extra=extra, out=str(out)))
    assert not out.exists()


def test_an_out_folder_of_anything_but_a_comparison_is_refused_before_any_cell_runs(tiny_run: Path, tmp_path: Path,
                                                                                    monkeypatch) -> None:
    """compare --out over a folder holding the user's report.md (or a train run) wrote its own report.md over
    it without a word; train refuses such a folder."""
    from ctxlearn.compare import run

    monkeypatch.setattr(run, "run_cell", lambda *a: pytest.fail("a cell ran"))
    rows = "".join(f"a b {i},{'x' if i % 2 else 'y'}\n" for i in range(40))
    (tmp_path / "good.csv").write_text("text,label\n" + rows)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("# my draft")
    for out in (mine, tiny_run):
        before = sorted(p.name for p in out.iterdir())
        with pytest.raises(ConfigError, match=re.escape(f"--out {out} holds ") + ".* which are not a comparison's, "
                           + re.escape(f"and compare writes its report.md, results.json and cells there; give a new or "
                                       f"empty folder, e.g. {out}-compare")):
            run_compare(CompareConfig(data=str(tmp_path / "good.csv"), methods="head", out=str(out)))
        assert sorted(p.name for p in out.iterdir()) == before
    assert (mine / "report.md").read_text() == "# my draft"
    for kept in (tmp_path / "cmp" / "cells", tmp_path / "curve" / "n100" / "cells"):  # compare's own: it goes on
        kept.mkdir(parents=True)
    assert run.is_comparison(tmp_path / "cmp") and run.is_comparison(tmp_path / "curve")
    assert not run.is_comparison(mine) and not run.is_comparison(tiny_run)


@pytest.mark.parametrize("settings, error", [
    ({"model": "minilmm", "methods": "head"}, r"unknown model 'minilmm' \(did you mean 'minilm'\?\)"),
    ({"icl_model": "smollm", "methods": "icl"}, r"unknown model 'smollm' \(did you mean 'smollm2'\?\)"),
])
def test_a_model_name_that_names_none_fails_before_any_cell_runs(tmp_path: Path, monkeypatch, settings: dict,
                                                                   error: str) -> None:
    from ctxlearn.compare import run
    from ctxlearn.errors import CtxlearnError

    monkeypatch.setattr(run, "run_cell", lambda *a: pytest.fail("a cell ran"))
    rows = "".join(f"a b {i},{'x' if i % 2 else 'y'}\n" for i in range(40))
    (tmp_path / "good.csv").write_text("text,label\n" + rows)
    with pytest.raises(CtxlearnError, match=error):
        run_compare(CompareConfig(data=str(tmp_path / "good.csv"), out=str(tmp_path / "cmp"), **settings))
    assert not (tmp_path / "cmp").exists()


def test_a_negative_seed_count_is_refused() -> None:
    """--seeds -1 was an IndexError."""
    with pytest.raises(ConfigError, match=r"^seeds must be >= 0, not -1$"):
        CompareConfig(data="x", seeds=-1)


def test_plan_runs_every_method_once_before_any_second_seed() -> None:
    from ctxlearn.compare.run import plan

    cells = plan(CompareConfig(data="x", methods="full,head,lora", seeds=2))
    assert [c.name for c in cells] == ["full-s0", "head-s0", "lora-s0", "full-s1", "head-s1", "lora-s1"]


def test_icl_on_tagging_data_is_refused_before_any_cell_runs(tmp_path) -> None:
    from ctxlearn.compare.run import plan
    from ctxlearn.errors import ConfigError

    (tmp_path / "ner.conll").write_text("Ada\tB-PER\nwrote\tO\n")
    with pytest.raises(ConfigError, match="icl labels whole texts, and .*ner.conll holds tagging data"):
        plan(CompareConfig(data=str(tmp_path / "ner.conll"), methods="head,icl"))
    cells = plan(CompareConfig(data=str(tmp_path / "ner.conll"), methods="head", seeds=1))
    assert [c.name for c in cells] == ["head-s0"]


def test_icl_cell_gets_icl_flags_not_training_ones() -> None:
    from ctxlearn.compare.run import cell_args

    cfg = CompareConfig(data="d.jsonl", methods="full,icl", budget="quick", extra=["--max-length", "64"])
    icl, full = cell_args(cfg, "icl"), cell_args(cfg, "full")
    assert icl[icl.index("--model") + 1] == "smollm2" and icl[icl.index("--limit") + 1] == "300"
    assert "--max-train" not in icl and "--epochs" not in icl and "--max-length" not in icl and "--calibrate" in icl
    assert "--verbalizer" not in icl  # unset: the cell keys of earlier comparisons hold
    named = cell_args(CompareConfig(data="d.jsonl", methods="icl", icl_verbalizer="0=negative,1=positive"), "icl")
    assert named[named.index("--verbalizer") + 1] == "0=negative,1=positive"
    assert full[full.index("--model") + 1] == "minilm" and "--max-train" in full and "--max-length" in full


def test_icl_cells_take_the_flags_after_dashes_that_icl_shares_with_train() -> None:
    """-- --threads 1 --max-train 300 left the icl cell on every core, drawing its demonstrations from 3,863
    examples against the train cells' 300, under a report that said the cells' own --max-train held."""
    from ctxlearn.compare.run import cell_args
    from ctxlearn.icl.config import IclConfig

    cfg = CompareConfig(data="d.jsonl", methods="head,icl", budget="quick",
                        extra=["--threads", "1", "--epochs", "2", "--max-train=300", "--bf16", "off", "--lr", "1e-3"])
    icl = cell_args(cfg, "icl")
    assert icl[-5:] == ["--threads", "1", "--max-train=300", "--bf16", "off"] and "--epochs" not in icl
    assert cell_args(cfg, "icl", max_train=64)[-2:] == ["--max-train", "64"]  # a curve's size comes last, and wins
    from ctxlearn.cli import build_parser

    args = build_parser(["icl"]).parse_args(["icl", *icl])
    assert (args.threads, args.max_train, args.bf16) == (1, 300, "off")
    assert {"threads", "max_train", "bf16"} <= {f for f in IclConfig.__dataclass_fields__}


def test_data_flags_go_to_train_and_icl_cells_alike(toy_data: Path, tmp_path: Path) -> None:
    from ctxlearn.cli import build_parser, compare_config
    from ctxlearn.compare.cells import Cell
    from ctxlearn.compare.run import cell_args, same_icl_run

    folder = tmp_path / "reviews"
    folder.mkdir()
    for split in ("train", "dev", "test"):  # the toy data with the columns a user's export might have
        rows = [json.loads(line) for line in (toy_data / f"{split}.jsonl").read_text().splitlines()]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps({"review": r["text"], "stars": r["label"]}) + "\n"
                                                       for r in rows))
    flags = ["--data", str(folder), "--text-field", "review", "--label-field", "stars"]
    cfg = compare_config(build_parser().parse_args(["compare", *flags, "--methods", "full,icl", "--seeds", "2"]))
    assert cell_args(cfg, "full")[:6] == flags and cell_args(cfg, "icl")[:6] == flags
    assert "--dev-fraction" not in cell_args(cfg, "full")  # flags left at their defaults are not repeated
    assert same_icl_run(cfg, Cell("icl", 1), [_icl_result(0)])["same_as_seed"] == 0  # the splits read by the fields


def test_tagging_compares_by_entity_f1(tiny_bert: Path, toy_conll: Path, tmp_path: Path, capsys) -> None:
    """The task comes from the .conll files; cells, table, plots and recommendation use test entity F1."""
    cfg = CompareConfig(data=str(toy_conll), model=str(tiny_bert), methods="head,full", seeds=1, budget="quick",
                        out=str(tmp_path / "cmp"), extra=["--bf16", "off", "--lr", "3e-3"])
    result = run_compare(cfg)
    rows = {r["method"]: r for r in result["methods"]}
    cells = json.loads((tmp_path / "cmp" / "results.json").read_text())["cells"]
    assert rows["head"]["task"] == "tagging" and rows["head"]["test_f1"] == pytest.approx(cells[0]["test_f1"])
    assert "test entity F1" in result["recommendation"]["text"]
    assert "| method | seeds | test entity F1 % |" in (tmp_path / "cmp" / "report.md").read_text()
    assert "test entity F1" in capsys.readouterr().err
    budget = "2,000 training examples (random sentences), at most 2 epochs, 1 seed"  # no icl clause, no strata
    assert f"Budget `quick`: {budget}. Same splits" in (tmp_path / "cmp" / "report.md").read_text()


def test_artifact_size_counts_what_predicting_needs(tmp_path: Path) -> None:
    from ctxlearn.compare.cells import artifact_mb

    for part in ("bottleneck/adapters.safetensors", "head.safetensors", "logs/events", "test_predictions.jsonl"):
        (tmp_path / part).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / part).write_bytes(b"x" * 2**19)
    assert artifact_mb(tmp_path) == pytest.approx(1.0)  # bottleneck and head; not logs or predictions


def test_under_folds_the_majority_baseline_and_train_size_are_every_folds(capsys) -> None:
    """compare --folds 3 on cb gave fold 0's baseline (46.4%) and training size beside the mean over all folds;
    the 250 examples the folds test together give 47.6%."""
    from ctxlearn.compare.report import markdown

    cells = [{"method": "head", "seed": 0, "fold": f, "test_accuracy": acc, "trainable_params": 1, "total_params": 2,
              "n_test": n, "n_train": 250 - n, "majority_class": "contradiction", "majority_accuracy": maj}
             for f, (n, maj, acc) in enumerate([(84, 39 / 84, 0.47), (83, 40 / 83, 0.47), (83, 40 / 83, 0.47)])]
    (row,) = aggregate(cells)
    assert (row["n_test"], row["n_train"], row["folds"]) == (250, 167, 3)
    assert row["majority_accuracy"] == pytest.approx(119 / 250) and row["majority_class"] == "contradiction"
    text = markdown([row], recommend([row]), {"data": "cb", "model": "minilm", "budget": "quick", "budget_help": "",
                                              "wall_seconds": 1.0})
    assert ("Always answering each fold's most common test class (`contradiction`) scores accuracy 47.6% over the "
            "250 examples the folds test: below it: head") in text  # fold 0's 46.4% had head beat it
    cells[1]["majority_class"] = "neutral"  # a fold whose most common class is another: both are named
    assert aggregate(cells)[0]["majority_class"] == "contradiction/neutral"


def _icl_result(seed: int) -> dict:
    return {"method": "icl", "seed": seed, "test_accuracy": 0.75, "wall_seconds": 500.0, "trainable_params": 0,
            "total_params": 10}


def test_icl_seed_repeats_the_first_run_when_the_splits_are_given(toy_data: Path) -> None:
    from ctxlearn.compare.cells import Cell
    from ctxlearn.compare.run import same_icl_run

    cfg = CompareConfig(data=str(toy_data), methods="icl", seeds=3)
    again = same_icl_run(cfg, Cell("icl", 2), [_icl_result(0)])
    assert again == {**_icl_result(0), "seed": 2, "same_as_seed": 0}
    assert same_icl_run(cfg, Cell("icl", 1), []) is None  # nothing to repeat yet


def test_icl_seed_that_cuts_other_splits_runs_again(toy_data: Path) -> None:
    from ctxlearn.compare.cells import Cell
    from ctxlearn.compare.run import same_icl_run

    cfg = CompareConfig(data=str(toy_data / "train.jsonl"), methods="icl", seeds=2)  # one file: each seed cuts its own
    assert same_icl_run(cfg, Cell("icl", 1), [_icl_result(0)]) is None


def test_report_gives_the_majority_baseline_and_the_methods_below_it() -> None:
    from ctxlearn.compare.report import notes

    common = {"majority_class": "ham", "majority_accuracy": 0.85, "n_test": 500, "trainable_params": 1,
              "total_params": 1}
    results = [{**common, "method": "full", "seed": 0, "test_accuracy": 0.97},
               {**common, "method": "icl", "seed": 0, "test_accuracy": 0.22, "n_test": 100, "majority_accuracy": 0.9}]
    skewed = (" With one class that common, accuracy rewards answering it: --rank-by macro_f1 ranks by macro-F1, "
              "which weighs every class alike.")
    assert notes(aggregate(results))[1] == ("Always answering `ham`, the most common test class, scores accuracy "
                                            "85.0%: below it: icl, which learned less than how common each class is."
                                            + skewed)
    balanced = [{**results[0], "majority_accuracy": 0.5}]
    assert notes(aggregate(balanced)) == [
        "Always answering `ham`, the most common test class, scores accuracy 50.0%: every method beats it."]
    ranked = recommend(aggregate(results[:1]), rank_by="macro_f1")
    assert not notes(aggregate(results[:1]), ranked)[0].endswith(skewed)  # ranked by macro-F1 already
    assert notes(aggregate([{**results[0], "majority_accuracy": None}])) == []  # tagging: no such baseline


def test_rank_by_macro_f1_recommends_by_it_and_tagging_keeps_entity_f1() -> None:
    """On imbalanced classes accuracy rewards answering the common class; macro-F1 weighs every class alike."""
    cost = {"trainable_params": 10, "total_params": 100, "train_seconds": 5.0, "artifact_mb": 1.0,
            "predict_ms_per_example": 1.0, "peak_rss_mb": 1.0}
    rows = [{**cost, "method": "head", "test_accuracy": 0.95, "test_macro_f1": 0.70},
            {**cost, "method": "full", "test_accuracy": 0.94, "test_macro_f1": 0.90, "trainable_params": 100}]
    assert recommend(rows)["best"] == "head"
    by_f1 = recommend(rows, rank_by="macro_f1")
    assert (by_f1["best"], by_f1["score"], by_f1["score_name"]) == ("full", "test_macro_f1", "test macro-F1")
    assert by_f1["text"].startswith("Best by macro-F1: full (90.0% test macro-F1).") and "interval" not in by_f1["text"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ctxlearn.compare.report import _scatter

    rows = aggregate([{**r, "seed": 0} for r in rows])
    for rec, legend, scores in ((by_f1, "best by macro-F1", [70.0, 90.0]), (recommend(rows), "most accurate",
                                                                           [94.0, 95.0])):
        fig, ax = plt.subplots()
        _scatter(ax, [1, 2], rows, rec)  # the plot shows and marks what the recommendation ranked by
        assert legend in ax.get_legend_handles_labels()[1]
        points = [line.get_ydata()[0] for line in ax.lines if line.get_marker() == "o" and len(line.get_ydata())]
        assert sorted(points) == pytest.approx(scores)
        plt.close(fig)
    tagging = [{**r, "task": "tagging", "test_f1": r["test_macro_f1"]} for r in rows]
    assert recommend(tagging, rank_by="macro_f1")["score"] == "test_f1"
    with pytest.raises(ConfigError, match="rank_by must be one of accuracy, macro_f1"):
        CompareConfig(data="d.csv", rank_by="f1")


def test_a_warning_some_cells_gave_names_them() -> None:
    from ctxlearn.compare.cells import cell_warnings
    from ctxlearn.compare.report import warning_lines

    results = [{"method": "head", "seed": 0, "warnings": ["small dev"]},
               {"method": "lora", "seed": 0, "fold": 1, "warnings": ["small dev", "below the majority"]}]
    meta = {"cells": 2, "warnings": cell_warnings(results)}
    assert warning_lines(meta) == ["small dev", "below the majority (lora-s0-f1)"]


def test_report_says_which_seeds_repeat_a_run_and_counts_their_time_once() -> None:
    from ctxlearn.compare.report import notes

    rows = aggregate([_icl_result(0), {**_icl_result(0), "seed": 1, "same_as_seed": 0},
                      {"method": "full", "seed": 0, "test_accuracy": 0.9, "trainable_params": 10, "total_params": 10}])
    assert [r["repeated_seeds"] for r in rows] == [1, 0]
    assert [n for n in notes(rows) if "repeat" in n] == [
        "icl: 1 of its 2 seeds repeat the first one's run, not scored again: its demonstrations are the nearest ones "
        "in a fixed order (nothing is drawn) and every seed gets the same splits, so its ± is zero by construction."]


def test_report_says_when_a_features_methods_every_cell_read_its_features_from_the_cache() -> None:
    """head's train s was 1 where an earlier run had computed its features, with no word that a first run pays
    for the backbone's pass (on builtin:sms-spam's 2,000 training texts: 7.2 s to train from an empty cache,
    0.6 s from a full one)."""
    from ctxlearn.compare.report import notes

    base = {"method": "head", "test_accuracy": 0.9, "trainable_params": 10, "total_params": 10}
    cached = [n for n in notes(aggregate([{**base, "seed": 0, "features_cached": True},
                                          {**base, "seed": 1, "features_cached": True}])) if "cache" in n]
    assert cached == ["head's features were read from ctxlearn's cache, where an earlier run computed them: its "
                      "train s is the fit alone and leaves out the backbone's pass over the data, which a first run "
                      "pays."]
    first_computed = aggregate([{**base, "seed": 0, "features_cached": False}, {**base, "seed": 1,
                                                                                 "features_cached": True}])
    assert not [n for n in notes(first_computed) if "cache" in n]  # later seeds reuse seed 0's: that is the method
    assert not [n for n in notes(aggregate([{**base, "method": "full", "seed": 0}])) if "cache" in n]


def test_a_features_estimate_is_set_beside_what_each_cell_did() -> None:
    from ctxlearn.compare.estimates import all_seeds, beside

    est = {"head": {"epoch_seconds": 30.0, "forward_seconds": 27.0, "cached_epoch_seconds": 3.0,
                    "total_seconds": 30.0, "peak_rss_mb": 900.0}}
    cells = [{"method": "head", "train_seconds": 29.0, "features_cached": False},
             *({"method": "head", "train_seconds": 2.0, "features_cached": True} for _ in range(2))]
    rows = [{"method": "head", "peak_rss_mb": 1000.0}]
    beside(rows, cells, est)
    assert rows[0]["estimate"]["epoch_seconds"] == pytest.approx(12.0)  # (30 + 3 + 3) / 3
    assert rows[0]["estimate"]["actual_epoch_seconds"] == pytest.approx(11.0)
    assert rows[0]["estimate"]["memory_error"] == pytest.approx(-0.1)
    assert all_seeds(est["head"], 3) == pytest.approx(36.0)
    assert all_seeds({"total_seconds": 50.0}, 3) == pytest.approx(150.0)  # a trainer method: every seed trains


def test_the_table_shows_a_spread_only_over_several_seeds() -> None:
    from ctxlearn.compare.report import table_rows

    base = {"trainable_params": 10, "total_params": 100, "peak_rss_mb": 500.0, "predict_ms_per_example": 1.0,
            "artifact_mb": 1.0}
    rows = aggregate([{**base, "method": "head", "seed": 0, "test_accuracy": 0.8, "test_macro_f1": 0.7,
                       "train_seconds": 3.0},
                      *({**base, "method": "full", "seed": s, "test_accuracy": a, "test_macro_f1": a,
                         "train_seconds": t} for s, a, t in ((0, 0.9, 10.0), (1, 0.8, 20.0)))])
    body = {line[0]: line for line in table_rows(rows)[1:]}
    assert body["head"][2:4] == ["80.0", "70.0"] and body["head"][7] == "3"
    assert body["full"][2] == "85.0 ± 7.1" and body["full"][7] == "15 ± 7"


def test_budget_text_names_icl_limit_only_when_icl_runs() -> None:
    from ctxlearn.compare.budget import BUDGETS

    quick, full = BUDGETS.get("quick"), BUDGETS.get("full")
    assert quick.describe(1, tagging=False, icl=True).endswith("; icl scores the first 300 test examples")
    assert full.describe(3, tagging=False, icl=True) == ("all training examples, each method's default epochs "
                                                           "(early stopping on dev), 3 seeds")


def test_estimates_are_kept_while_their_cell_key_holds(toy_data: Path, tmp_path: Path, monkeypatch) -> None:
    """estimates.json was reused for a method whatever the data or budget had become since."""
    from ctxlearn.compare import estimates

    calls = []
    monkeypatch.setattr(estimates, "estimate_method", lambda m, args, log: calls.append(m) or {"epoch_seconds": 1.0})

    def args(method: str) -> list[str]:
        return ["--data", str(toy_data), "--method", method]

    def run(methods: list[str]) -> dict:
        return estimates.load_or_run(methods, args, tmp_path, data_digest(str(toy_data)))

    (tmp_path / "cells").mkdir()
    first = run(["head", "topk"])
    assert run(["head", "topk"]) == first and calls == ["head", "topk"]
    assert list(run(["topk"])) == ["topk"]  # only what is asked
    (toy_data / "train.jsonl").write_text((toy_data / "train.jsonl").read_text() + "\n")
    run(["head"])
    assert calls == ["head", "topk", "head"]


def test_folds_test_every_example_once_and_the_interval_counts_them_all(tiny_bert: Path, toy_data: Path,
                                                                          tmp_path: Path, capsys) -> None:
    """On one small file a tenth of it was the test split, too few to rank methods; --folds tests all of it."""
    from ctxlearn.cli import main

    data = toy_data / "train.jsonl"  # one file of 160 examples: no test file beside it
    cfg = CompareConfig(data=str(data), model=str(tiny_bert), methods="head", folds=2, out=str(tmp_path / "cmp"),
                        budget="quick", extra=["--bf16", "off"])
    result = run_compare(cfg)
    cells = json.loads((tmp_path / "cmp" / "results.json").read_text())["cells"]
    assert [(c["seed"], c["fold"], c["n_test"]) for c in cells] == [(0, 0, 80), (0, 1, 80)]
    row = result["methods"][0]
    assert (row["folds"], row["n_test"]) == (2, 160)
    assert row["test_accuracy"] == pytest.approx(sum(c["test_accuracy"] for c in cells) / 2)
    assert result["recommendation"]["n_test"] == 160
    report = (tmp_path / "cmp" / "report.md").read_text()
    assert "2-fold cross-validation: each fold of the data is the test split" in report
    assert "| head | 2 folds |" in report
    predictions = [tmp_path / "cmp" / "cells" / f"head-s0-f{f}" / "test_predictions.jsonl" for f in range(2)]
    tested = [json.loads(line)["line"] for path in predictions for line in path.read_text().splitlines()]
    assert sorted(tested) == list(range(1, 161))
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "cmp" / "cells" / "head-s0-f1"), "--data", str(data), "--json"]) == 0
    out = capsys.readouterr()
    assert "scoring its test split (80 rows" in out.err  # the run's own fold, not the rows it trained on
    assert json.loads(out.out)["test_accuracy"] == pytest.approx(cells[1]["test_accuracy"])



def test_a_cap_given_after_the_double_dash_wins_over_the_budget_and_the_report_says_so() -> None:
    """-- --max-train 600 under the quick budget ran on 2,000 examples: the budget's cap came after it."""
    from ctxlearn.compare.run import budget_text, cell_args

    cfg = CompareConfig(data="d.csv", budget="quick", extra=["--max-train", "600", "--epochs=4"])
    args = cell_args(cfg, "lora")
    assert args.count("--max-train") == 1 and args[args.index("--max-train") + 1] == "600"
    assert "--epochs" not in args and "--epochs=4" in args
    assert budget_text(cfg, 1, False, False, 0).endswith("; the cells' own --max-train and --epochs (after --) in "
                                                          "place of the budget's")
    plain = cell_args(CompareConfig(data="d.csv", budget="quick"), "lora")
    assert plain[plain.index("--max-train") + 1] == "2000" and plain[plain.index("--epochs") + 1] == "2"
    folded = CompareConfig(data="d.csv", budget="quick", folds=3)
    assert budget_text(folded, 1, False, False, 0).endswith("; 3-fold cross-validation: each fold of the data is the "
                                                            "test split of one run per seed, so every example is "
                                                            "tested once, and each score is the mean over folds")
    assert budget_text(folded, 1, False, False, 300).startswith("300 training examples (stratified)")  # a curve's size


@pytest.mark.parametrize("extra, instead", [(["--seed", "5"], "give --seeds N"),
                                            (["--method", "lora"], "give --methods"),
                                            (["--model=x"], "give compare's --model"),
                                            (["--text-field", "t"], "give compare's --text-field"),
                                            (["--resume"], "rerunning the same compare resumes its cells")])
def test_train_flags_that_compare_sets_per_cell_are_refused_after_the_double_dash(extra: list, instead: str) -> None:
    """After --, they were dropped (--seed) or overrode compare's own (--model) without a word."""
    with pytest.raises(ConfigError, match=f"compare: {extra[0].split('=')[0]} after -- is set by compare for each "
                                          f"cell; {re.escape(instead)}"):
        CompareConfig(data="d.csv", extra=extra)
    assert CompareConfig(data="d.csv", extra=["--max-length", "64", "--seed-words", "x"]).extra[0] == "--max-length"


def test_estimate_only_prints_the_estimates_and_no_report(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                           capsys) -> None:
    """It estimated, then failed reading a report.md that --estimate-only never writes."""
    from ctxlearn.cli import main

    assert main(["compare", "--data", str(toy_data), "--model", str(tiny_bert), "--methods", "head", "--budget",
                 "quick", "--out", str(tmp_path / "cmp"), "--estimate-only", "--", "--bf16", "off"]) == 0
    captured = capsys.readouterr()
    assert "Estimated training time for the whole comparison: " in captured.err and captured.out == ""
    assert not (tmp_path / "cmp" / "report.md").exists()


def test_a_test_split_cut_from_one_file_that_cannot_rank_suggests_folds(toy_data: Path) -> None:
    from ctxlearn.compare.run import folds_hint

    unranked = {"within_interval": ["lora"]}
    assert folds_hint(CompareConfig(data=str(toy_data / "train.jsonl")), unranked) == (
        f" Cut from {toy_data / 'train.jsonl'}, the test split is 10% of it: --folds 5 tests every example once, and "
        "ranks finer.")
    assert folds_hint(CompareConfig(data="builtin:trec"), unranked).startswith(" Cut from builtin:trec")
    assert folds_hint(CompareConfig(data=str(toy_data)), unranked) == ""  # a folder: its own test file
    (toy_data / "test.jsonl").unlink()  # a folder without one, as SuperGLUE's RTE (train and dev) comes
    assert folds_hint(CompareConfig(data=str(toy_data)), unranked) == (
        f" Cut from {toy_data}, the test split is 10% of its train file: --folds 5 tests every example once, and "
        "ranks finer.")
    assert folds_hint(CompareConfig(data=str(toy_data / "train.jsonl"), folds=3), unranked) == ""
    assert folds_hint(CompareConfig(data=str(toy_data / "train.jsonl")), {"within_interval": []}) == ""


def test_a_cell_that_went_on_counts_the_training_its_stopped_sessions_did(tiny_run: Path, tmp_path: Path) -> None:
    """A cell resumed after a stop was timed by its last process alone, so the report's total left out the rest."""
    folder = shutil.copytree(tiny_run, tmp_path / "lora-s0")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["training"]["earlier_seconds"] = 100.0
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = cell_result(folder)
    assert result["earlier_seconds"] == 100.0
    assert 105 <= cell_seconds(time.time() - 5, result) < 106
    assert 5 <= cell_seconds(time.time() - 5, {**result, "earlier_seconds": None}) < 6  # a cell run in one go
    assert cell_seconds(None, result) is None  # kept from an earlier compare: its process was not timed


def test_the_time_line_of_one_cell_reads_as_one() -> None:
    from ctxlearn.compare.report import wall_line

    assert wall_line({"cells": 1, "cells_process_seconds": 18.0, "cells_wall_seconds": 12.0}) == (
        "The cell took 0.3 min in all, each in its own process (0.2 min of it in its run, the rest starting it).")
    assert wall_line({"cells": 2, "cells_process_seconds": None, "cells_wall_seconds": 60.0}).startswith(
        "The 2 cells took 1.0 min of wall time in their runs")
