"""`ctxlearn runs`: the run folders under a folder, ranked by test score on each data set."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ctxlearn.cli import main
from ctxlearn.compare.command import record_command
from ctxlearn.compare.run import CompareConfig
from ctxlearn.errors import ConfigError
from ctxlearn.runs import find_runs


def _copy(run: Path, to: Path, test: float | None = None, **manifest: object) -> Path:
    """A copy of ``run`` at ``to`` with its test score (accuracy, or F1 for tagging) and manifest fields set."""
    shutil.copytree(run, to)
    saved = json.loads((to / "manifest.json").read_text())
    (to / "manifest.json").write_text(json.dumps({**saved, **manifest}))
    metrics = json.loads((to / "metrics.json").read_text())
    if test is None:
        (to / "metrics.json").unlink()
    else:
        metrics["test"]["f1" if manifest.get("task") == "tagging" else "accuracy"] = test
        (to / "metrics.json").write_text(json.dumps(metrics))
    return to


@pytest.fixture
def runs(tiny_run: Path, tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    _copy(tiny_run, root / "a-head", 0.70)
    _copy(tiny_run, root / "b-lora", 0.90, method="lora")
    _copy(tiny_run, root / "cmp" / "cells" / "full-s0", 0.80, method="full")
    _copy(tiny_run, root / "c-none", None)  # metrics.json lost: listed, ranked last
    _copy(tiny_run, root / "tags", 0.55, task="tagging", data="ner")
    _copy(tiny_run, root / "d.partial", 0.99)  # unfinished: not listed
    _copy(tiny_run, root / ".e.tmp-1-2", 0.99)  # a run folder being written: not listed
    return root


def test_runs_are_ranked_by_test_score_within_each_data_set(runs: Path, tiny_run: Path) -> None:
    rows = find_runs(runs)
    data = json.loads((tiny_run / "manifest.json").read_text())["data"]
    assert [(Path(r.run).relative_to(runs).as_posix(), r.data, r.metric, r.test) for r in rows] == sorted([
        ("b-lora", data, "accuracy", 0.90), ("cmp/cells/full-s0", data, "accuracy", 0.80),
        ("a-head", data, "accuracy", 0.70), ("c-none", data, "accuracy", None), ("tags", "ner", "f1", 0.55)],
        key=lambda r: r[1] != data)


def test_the_table_marks_the_best_run_of_each_data_set(runs: Path, capsys) -> None:
    assert main(["runs", str(runs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = [line.split()[1] for line in lines[1:] if line.startswith("*  ")]
    assert marked == [str(runs / "b-lora"), str(runs / "tags")]
    assert "accuracy 90.00" in next(line for line in lines if "b-lora" in line)
    assert main(["runs", str(runs), "--json"]) == 0
    assert [r["method"] for r in json.loads(capsys.readouterr().out)][:2] == ["lora", "full"]


def test_each_run_shows_how_many_warnings_it_gave(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """A score given with a warning (a test split of 40, a model below the majority baseline, a scratch model
    that learnt nothing) was listed as any other: the table now counts them, so the run to read first shows."""
    root = tmp_path / "runs"
    _copy(tiny_run, root / "warned", 0.90, warnings=["test: 40 examples", "scratch:m: its pretraining ..."])
    _copy(tiny_run, root / "clean", 0.80, warnings=[])
    old = _copy(tiny_run, root / "old", 0.70)  # a manifest from before warnings were kept
    saved = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({k: v for k, v in saved.items() if k != "warnings"}))
    assert {Path(r.run).name: r.warnings for r in find_runs(root)} == {"warned": 2, "clean": 0, "old": None}
    assert main(["runs", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    column = lines[0].index("warnings")
    assert [line[column:].split()[0] for line in lines[1:4]] == ["2", "0", "-"]  # by test score: warned, clean, old
    assert "warnings: how many the run gave" in lines[-1]


def test_an_int8_export_is_listed_with_its_own_test_score(tiny_run: Path, tmp_path: Path) -> None:
    """An export's metrics.json is its source's, copied; its int8 score is in export.json."""
    out = _copy(tiny_run, tmp_path / "runs" / "x-int8", 0.90, export={"weights": "int8-dynamic"})
    (out / "export.json").write_text(json.dumps({"measured": {"fp32": {"accuracy": 0.90}, "int8": {"accuracy": 0.85}}}))
    (row,) = find_runs(tmp_path / "runs")
    assert row.method.endswith(" (int8)") and row.test == 0.85


def test_an_export_measured_on_other_data_is_listed_under_that_data(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """`export --data easy.jsonl` (31 texts of one class) was starred as the best run of the source's data, its
    77% listed as a score of that data's test split, above runs that scored 65% on it."""
    root = tmp_path / "runs"
    source = _copy(tiny_run, root / "x", 0.65)
    data = json.loads((source / "manifest.json").read_text())["data"]
    easy = tmp_path / "easy.jsonl"
    for name, measured_on, accuracy in (("x-int8", data, 0.66), ("x-int8-easy", str(easy), 0.77)):
        out = _copy(tiny_run, root / name, 0.65, export={"weights": "int8-dynamic"})
        report = {"data": measured_on, "measured": {"int8": {"accuracy": accuracy}}}
        (out / "export.json").write_text(json.dumps(report))
    rows = {Path(r.run).name: r for r in find_runs(root)}
    assert rows["x-int8"].data == rows["x"].data == data and rows["x-int8"].test_split == rows["x"].test_split != ""
    assert (rows["x-int8-easy"].data, rows["x-int8-easy"].test_split) == (str(easy), "")
    assert main(["runs", str(root)]) == 0
    starred = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("*")]
    starred = [run for run in starred if run.startswith(str(root))]
    assert sorted(Path(run).name for run in starred) == ["x-int8", "x-int8-easy"]  # the best of each data's scores


def test_an_empty_or_missing_folder(tmp_path: Path, capsys) -> None:
    assert main(["runs", str(tmp_path)]) == 0
    assert f"no run folders under {tmp_path}" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="no such folder"):
        find_runs(tmp_path / "missing")
    (tmp_path / "data.csv").write_text("text,label\n")
    with pytest.raises(ConfigError, match=r"data.csv: a file, not a folder; give the folder your runs"):
        find_runs(tmp_path / "data.csv")  # it said "no such folder" of a file that is there


def _stopped(work: Path, method: str, *, step: int | None = None, finished: bool = False, processes: int = 1) -> Path:
    """OUT.partial as a stopped train run leaves it: its record, and a checkpoint at ``step``."""
    work.mkdir(parents=True)
    (work / "run.json").write_text(json.dumps({"data": "d.csv", "method": method, "processes": processes}))
    if step is not None:
        (work / f"checkpoint-{step}").mkdir()
        (work / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step,
                                                                                     "max_steps": 90}))
        (work / f"checkpoint-{step + 1}").mkdir()  # a save cut off: passed over, as --resume passes it over
    if finished:
        (work / "finished.json").write_text("{}")
    return work


def test_runs_stopped_before_the_end_are_listed_with_the_command_that_continues_them(runs: Path, capsys) -> None:
    """A stopped run left only OUT.partial, which `runs` passed over: no sign of it, nor of how to go on."""
    _stopped(runs / "x.partial", "full", step=30)
    _stopped(runs / "y b.partial", "head")
    _stopped(runs / "z.partial", "lora", step=90, finished=True, processes=2)  # torchrun --nproc_per_node 2
    _stopped(runs / "cmp" / "cells" / "lora-s1.partial", "lora", step=5)
    (runs / "cmp" / "cells" / "lora-s1.log").write_text("")
    _stopped(runs / ".w.tmp-1" / "v.partial", "full")  # inside a folder being written: not listed
    assert main(["runs", str(runs)]) == 0
    out = capsys.readouterr().out
    lines = out[out.index("stopped before the end (4)"):].splitlines()[1:]
    assert [" ".join(line.split()) for line in lines] == [  # padded to columns
        f"{runs / 'cmp' / 'cells' / 'lora-s1'} lora d.csv step 5 of 90 continue: the same ctxlearn compare --out "
        f"{runs / 'cmp'}",
        f"{runs / 'x'} full d.csv step 30 of 90 continue: ctxlearn train --out {runs / 'x'} --resume",
        f"{runs / 'y b'} head d.csv no checkpoint yet continue: ctxlearn train --out '{runs / 'y b'}' --resume",
        f"{runs / 'z'} lora d.csv trained, not yet scored continue: torchrun --nproc_per_node 2 -m ctxlearn train "
        f"--out {runs / 'z'} --resume"]
    assert main(["runs", str(runs), "--json"]) == 0
    assert all(not r["run"].endswith(("x", "y b", "z")) for r in json.loads(capsys.readouterr().out))


def test_a_stopped_cell_is_listed_with_its_comparisons_own_command(tmp_path: Path, monkeypatch, capsys) -> None:
    """"the same ctxlearn compare --out X" could not be pasted: compare keeps its command, and `runs` gives it."""
    monkeypatch.chdir(tmp_path)
    record_command(CompareConfig(data="d.csv", out="cmp", methods="lora", extra=["--epochs", "2"]))
    _stopped(tmp_path / "cmp" / "cells" / "lora-s0.partial", "lora", step=5)
    (tmp_path / "cmp" / "cells" / "lora-s0.log").write_text("")
    assert main(["runs", "cmp"]) == 0
    assert capsys.readouterr().out.rstrip().endswith(
        "continue: ctxlearn compare --data d.csv --out cmp --methods lora -- --epochs 2")


def test_evaluation_folders_are_listed_with_the_run_and_data_they_scored(runs: Path, capsys) -> None:
    for name, test in (("a-holdout", {"accuracy": 0.625}), ("tags-holdout", {"f1": 0.5, "per_type": {}})):
        (runs / "evals" / name).mkdir(parents=True)
        (runs / "evals" / name / "eval.json").write_text(json.dumps({"evaluates": f"runs/{name[:-8]}",
                                                                      "data": "holdout.csv"}))
        (runs / "evals" / name / "metrics.json").write_text(json.dumps({"test": test}))
    assert main(["runs", str(runs)]) == 0
    out = capsys.readouterr().out
    listed = out[out.index("evaluations (2; eval --out)"):].splitlines()[1:]
    assert [" ".join(line.split()) for line in listed] == [
        f"{runs / 'evals' / 'a-holdout'} runs/a holdout.csv accuracy 62.50",
        f"{runs / 'evals' / 'tags-holdout'} runs/tags holdout.csv f1 50.00"]
    assert not any("evals" in r.run for r in find_runs(runs))  # no run folders: no manifest.json


def test_each_run_shows_how_many_training_examples_it_learned_from(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """A learning curve's cells are runs on one data set at several sizes: the table told them apart only by path."""
    _copy(tiny_run, tmp_path / "few", 0.6, data_sizes={"train": 20, "dev": 40, "test": 40})
    old = _copy(tiny_run, tmp_path / "old", 0.7)
    saved = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({k: v for k, v in saved.items() if k != "data_sizes"}))
    assert main(["runs", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    column = lines[0].index("train n")
    assert lines[0].split()[:4] == ["run", "task", "data", "train"]
    assert [line[column:].split()[0] for line in lines[1:3]] == ["-", "20"]  # old first: its score is higher
    assert [r.train_examples for r in find_runs(tmp_path)] == [None, 20]
    assert find_runs(tiny_run.parent)[0].train_examples == 160  # a run written now records it


def test_runs_on_other_test_splits_of_one_file_are_ranked_apart(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """Runs cut from one file with other seeds or folds test other examples: the better score of two such
    runs says nothing of which is better, and one mark over both said it did."""
    saved = json.loads((tiny_run / "manifest.json").read_text())
    hashes = saved["data_sha256"]
    _copy(tiny_run, tmp_path / "runs" / "f0-head", 0.90, data_sha256={**hashes, "test": "aaaa" * 16})
    _copy(tiny_run, tmp_path / "runs" / "f0-lora", 0.85, method="lora", data_sha256={**hashes, "test": "aaaa" * 16})
    _copy(tiny_run, tmp_path / "runs" / "f1-lora", 0.80, method="lora", data_sha256={**hashes, "test": "bbbb" * 16})
    assert main(["runs", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = [line.split()[1] for line in lines[1:] if line.startswith("*  ")]
    assert marked == [str(tmp_path / "runs" / "f0-head"), str(tmp_path / "runs" / "f1-lora")]
    assert f"{saved['data']} (test bbbbbbbb)" in next(line for line in lines if "f1-lora" in line)


def test_an_icl_run_that_scored_part_of_test_is_ranked_apart(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """`icl --limit 60` scores the first 60 of 477 test examples; `runs` ranked its 96.67 against a head run's
    98.53 on all 477, under one mark, as scores of the same examples."""
    saved = json.loads((tiny_run / "manifest.json").read_text())
    sizes = {"train": 160, "dev": 20, "test": 477}
    _copy(tiny_run, tmp_path / "runs" / "head", 0.80, data_sizes=sizes)
    _copy(tiny_run, tmp_path / "runs" / "icl", 0.95, method="icl", data_sizes=sizes, data_scored={"test": 60})
    _copy(tiny_run, tmp_path / "runs" / "icl-all", 0.70, method="icl", data_sizes=sizes, data_scored={"test": 477})
    assert main(["runs", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = [line.split()[1] for line in lines[1:] if line.startswith("*  ")]
    assert marked == [str(tmp_path / "runs" / "head"), str(tmp_path / "runs" / "icl")]
    test = saved["data_sha256"]["test"][:8]
    assert f"{saved['data']} (test {test}, the first 60)" in next(line for line in lines if "runs/icl " in line)
    assert f"{saved['data']} (test {test})" in next(line for line in lines if "icl-all" in line)


def test_runs_on_one_file_named_two_ways_are_ranked_together(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """`--data imb.csv` in one run and `--data ./imb.csv` or its full path in another: three data sets, three
    marks, though two of the runs tested the same examples."""
    saved = json.loads((tiny_run / "manifest.json").read_text())
    hashes = saved["data_sha256"]
    _copy(tiny_run, tmp_path / "runs" / "rel", 0.80, data="imb.csv")
    _copy(tiny_run, tmp_path / "runs" / "abs", 0.90, method="lora", data="/home/u/imb.csv")
    _copy(tiny_run, tmp_path / "runs" / "seed1", 0.70, data="./imb.csv", data_sha256={**hashes, "test": "bbbb" * 16})
    assert [Path(r.run).name for r in find_runs(tmp_path / "runs")] == ["seed1", "abs", "rel"]  # "./" before "/"
    assert main(["runs", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = [line.split()[1] for line in lines[1:] if line.startswith("*  ")]
    assert marked == [str(tmp_path / "runs" / "seed1"), str(tmp_path / "runs" / "abs")]
    assert "./imb.csv (test bbbbbbbb)" in next(line for line in lines if "seed1" in line)
    assert f"imb.csv (test {hashes['test'][:8]})" in next(line for line in lines if "runs/rel " in line)


def test_a_cell_its_comparison_no_longer_reports_is_listed_apart_and_not_ranked(tiny_run: Path, tmp_path: Path,
                                                                                 capsys) -> None:
    """compare run again with --methods head,lora kept cells/full-s0 from the run before, which `runs` ranked
    beside the cells the report holds, unmarked."""
    cmp = tmp_path / "runs" / "cmp"
    for name, score in (("head-s0", 0.76), ("lora-s0", 0.75), ("full-s0", 0.90)):
        _copy(tiny_run, cmp / "cells" / name, score)
    (cmp / "results.json").write_text(json.dumps({"cells": [{"out": "runs/cmp/cells/head-s0"},
                                                            {"out": "runs/cmp/cells/lora-s0"}]}))
    rows = {Path(r.run).name: r for r in find_runs(tmp_path / "runs")}
    assert [n for n, r in rows.items() if r.left_out] == ["full-s0"]
    assert main(["runs", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert next(line for line in lines if "full-s0" in line).startswith("-  ")
    assert next(line for line in lines if "head-s0" in line).startswith("*  ")  # the best the report holds
    assert any("left out of its report" in line for line in lines)
    (cmp / "results.json").unlink()  # a comparison not yet reported: nothing to leave out
    assert not any(r.left_out for r in find_runs(tmp_path / "runs"))
