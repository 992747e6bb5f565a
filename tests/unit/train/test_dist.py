"""A run launched on two processes (torchrun, gloo on CPU): both train one model under DDP, the main
process alone writes the run folder and the result."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ctxlearn.config import TrainConfig
from ctxlearn.errors import ConfigError
from ctxlearn.methods import METHODS
from ctxlearn.train.run import check_launch


def _train(*launcher: str, tiny_bert: Path, toy_data: Path, out: Path) -> subprocess.CompletedProcess:
    flags = ["--data", str(toy_data), "--model", str(tiny_bert), "--method", "full", "--out", str(out), "--epochs", "2",
             "--batch-size", "16", "--bf16", "off", "--threads", "1", "--json"]
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
        with recorded_warnings() as inner:
            read_examples(tmp_path / "joined.csv", Fields())  # a reader's warnings.warn: kept
            warnings.warn("not ours", UserWarning)  # raised from outside ctxlearn (this file): printed, not kept
        warn("last")
    warn("after")
    skipped = f"{tmp_path / 'joined.csv'}: skipped 1 row(s) that repeat the header"
    assert outer[0] == "first" and outer[1].startswith(skipped) and outer[2:] == ["last"] and inner == outer[1:2]
    assert capsys.readouterr().err.count("ctxlearn: warning:") == 3


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
    assert _training(tmp_path / "two")["useful_train_tokens"] == pytest.approx(_training(tmp_path / "one")["useful_train_tokens"], rel=0.02)


@pytest.mark.parametrize("method, kw, named", [("head", {}, "--method head fits its head on cached features"),
                                               ("full", {"estimate_steps": 5}, "--estimate-steps measures one process")])
def test_a_launched_run_refuses_what_one_process_does(monkeypatch, method: str, kw: dict, named: str) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match=named):
        check_launch(TrainConfig(data="d", method=method, **kw), METHODS.get(method))
