"""A run launched on two processes (torchrun, gloo on CPU): both train one model under DDP, the main
process alone writes the run folder and the result."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_toy

from ctxlearn.config import TrainConfig
from ctxlearn.errors import ConfigError
from ctxlearn.methods import METHODS
from ctxlearn.train.run import check_launch


TWO = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")


def _flags(tiny_bert: Path, data: Path, out: Path, epochs: int = 2) -> list[str]:
    return ["--data", str(data), "--model", str(tiny_bert), "--method", "full", "--out", str(out), "--epochs",
            str(epochs), "--batch-size", "16", "--bf16", "off", "--threads", "1", "--json"]


def _train(*launcher: str, tiny_bert: Path, toy_data: Path, out: Path) -> subprocess.CompletedProcess:
    flags = _flags(tiny_bert, toy_data, out)
    return subprocess.run([sys.executable, *launcher, "-m", "ctxlearn", "train", *flags], capture_output=True, text=True,
                          timeout=300)


def _training(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())["training"]


def test_recorded_warnings_keep_ctxlearns_own_in_order(tmp_path: Path, capsys) -> None:
    import warnings

    from ctxlearn.data.example import Fields
    from ctxlearn.data.readers import read_examples
    from ctxlearn.train.dist import recorded_warnings, warn

    (tmp_path / "joined.csv").write_text("text,label\na,x\ntext,label\nb,y\n")  # two files joined with cat
    with recorded_warnings() as outer, warnings.catch_warnings():
        warnings.simplefilter("always")
        warn("first")
        warn("first")  # said again (a file read twice): kept once
        with recorded_warnings() as inner:
            read_examples(tmp_path / "joined.csv", Fields())  # a reader's warnings.warn: kept
            warnings.warn("not ours", UserWarning)  # raised from outside ctxlearn (this file): printed, not kept
        warn("last")
    warn("after")
    skipped = f"{tmp_path / 'joined.csv'}: skipped 1 row(s) that repeat the header"
    assert outer[0] == "first" and outer[1].startswith(skipped) and outer[2:] == ["last"] and inner == outer[1:2]
    assert capsys.readouterr().err.count("ctxlearn: warning:") == 4


def test_each_run_of_a_process_records_the_readers_warnings(tmp_path: Path) -> None:
    """Python shows a warning once per place it is raised from (its "default" filter), so a second run in one
    process (run_training twice in a notebook, on one file) showed, and recorded, none of the readers'
    warnings: its manifest and report lacked the skipped row the first one listed."""
    import warnings

    from ctxlearn.data.example import Fields
    from ctxlearn.data.readers import read_examples
    from ctxlearn.train.dist import recorded_warnings

    (tmp_path / "joined.csv").write_text("text,label\na,x\ntext,label\nb,y\n")
    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as a plain Python process has it
        for _ in range(2):
            with recorded_warnings() as notes:
                read_examples(tmp_path / "joined.csv", Fields())
            runs.append(notes)
    assert len(runs[0]) == 1 and runs[1] == runs[0] and "skipped 1 row(s) that repeat the header" in runs[0][0]


def test_two_processes_share_the_epochs_and_the_main_one_reports(tiny_bert: Path, toy_data: Path, tmp_path: Path) -> None:
    two = _train("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                 tiny_bert=tiny_bert, toy_data=toy_data, out=tmp_path / "two")
    assert two.returncode == 0, two.stderr[-3000:]
    (line,) = two.stdout.splitlines()  # one result, from the main process
    assert json.loads(line)["out"] == str(tmp_path / "two")
    assert two.stderr.count("[ctxlearn] data (classification)") == 1
    assert "find_unused_parameters=True" not in two.stderr  # every trainable weight is used: DDP need not search
    assert not (tmp_path / "two.partial").exists()
    one = _train(tiny_bert=tiny_bert, toy_data=toy_data, out=tmp_path / "one")
    assert one.returncode == 0, one.stderr[-3000:]
    # each step takes a batch on each process: half the steps, the same tokens (the sampler may repeat a row
    # to give both processes equal shares)
    assert _training(tmp_path / "two")["steps"] * 2 == _training(tmp_path / "one")["steps"]
    # an epoch's steps are counted per process: counted for one, two processes warmed up twice as long and
    # logged (and scored dev, with --evals-per-epoch) half as often
    assert len(_training(tmp_path / "two")["loss_curve"]) == len(_training(tmp_path / "one")["loss_curve"])
    assert [json.loads((tmp_path / f / "manifest.json").read_text())["processes"] for f in ("two", "one")] == [2, 1]
    assert _training(tmp_path / "two")["useful_train_tokens"] == pytest.approx(_training(tmp_path / "one")["useful_train_tokens"], rel=0.02)


def test_a_run_resumes_in_as_many_processes_as_it_started_with(tmp_path: Path) -> None:
    """`ctxlearn train --resume` of a two-process run went on in one, from step 13 of a 50-step schedule in place
    of 25, and ended at another score; the hint printed on stopping named the plain command."""
    from ctxlearn.train.resume import refuse_other_processes, with_new_defaults

    with pytest.raises(ConfigError, match=r"^--resume: the interrupted run in .*x.partial trained in 2 processes, and "
                                          r"this one runs 1; continue it as it started: torchrun --nproc_per_node 2 "
                                          r"-m ctxlearn train --out runs/x --resume$"):
        refuse_other_processes(2, 1, "runs/x", tmp_path / "x.partial")
    refuse_other_processes(2, 2, "runs/x", tmp_path / "x.partial")
    assert with_new_defaults({"seed": 3})["processes"] == 1, "a record from before the field: one process"


@pytest.mark.parametrize("method, kw, named", [("head", {}, "--method head fits its head on cached features"),
                                               ("full", {"estimate_steps": 5}, "--estimate-steps measures one process")])
def test_a_launched_run_refuses_what_one_process_does(monkeypatch, method: str, kw: dict, named: str) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match=named):
        check_launch(TrainConfig(data="d", method=method, **kw), METHODS.get(method))


def test_a_launched_run_stopped_by_ctrl_c_saves_a_step_and_resumes_as_an_unbroken_run(tiny_bert: Path,
                                                                                   tmp_path: Path) -> None:
    """Launched, Ctrl-C killed the processes at once: the steps since the last epoch's checkpoint were lost,
    and the message said to resume 'from the last checkpoint', where there was none. Now the processes agree
    on one step, save it, and stop; --resume ends where an unbroken run does."""
    data = write_toy(tmp_path / "toy", n_train=4000)  # 500 steps in all: the stop comes at the first progress line
    stopped = subprocess.Popen([sys.executable, *TWO, "-m", "ctxlearn", "train",
                                *_flags(tiny_bert, data, tmp_path / "run", epochs=4)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    said = []
    for line in stopped.stderr:
        said.append(line)
        if line.startswith("[ctxlearn] step "):
            os.killpg(stopped.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the launcher and its processes
            break
    said += stopped.communicate(timeout=120)[1].splitlines(keepends=True)
    err = "".join(said)
    saved = [p.name for p in (tmp_path / "run.partial").glob("checkpoint-*")]
    assert len(saved) == 1 and 0 < int(saved[0].split("-")[1]) < 500, err[-3000:]
    assert err.count(f"ctxlearn: interrupted; a checkpoint was saved at step {saved[0].split('-')[1]}") == 1
    assert f"(`torchrun --nproc_per_node 2 -m ctxlearn train --out {tmp_path / 'run'} --resume` is enough" in err
    resumed = subprocess.run([sys.executable, *TWO, "-m", "ctxlearn", "train", "--out", str(tmp_path / "run"),
                              "--resume", "--json"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    unbroken = subprocess.run([sys.executable, *TWO, "-m", "ctxlearn", "train",
                               *_flags(tiny_bert, data, tmp_path / "unbroken", epochs=4)],
                              capture_output=True, text=True, timeout=300)
    assert unbroken.returncode == 0, unbroken.stderr[-3000:]
    scores = [json.loads(r.stdout) for r in (resumed, unbroken)]
    for key in ("test_accuracy", "dev_accuracy", "test_ece"):  # the ECE, of every probability, to the last digit
        assert scores[0][key] == scores[1][key], key
    assert _training(tmp_path / "run")["steps"] == _training(tmp_path / "unbroken")["steps"] == 500
