"""Ctrl-C or SIGTERM in training: the step running ends, a checkpoint is saved at it, and --resume continues
from there to where an unbroken run ends. Killed before, a run lost every step since its last checkpoint
(on a large file, most of an epoch)."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from transformers import Trainer

from ctxlearn.cli import main
from ctxlearn.config import TrainConfig
from ctxlearn.train.run import run_training
from ctxlearn.train.stop import Stopped

PER_EPOCH = 10  # steps: 160 training examples in batches of 16
pytestmark = pytest.mark.usefixtures("terminal_signals")


def _common(tiny_bert: Path, toy_data: Path) -> dict:
    return dict(data=str(toy_data), model=str(tiny_bert), method="full", lr=3e-3, epochs=3, batch_size=16,
                patience=2, bf16="off", seed=3)


def _signal_in_step(monkeypatch, step: int, *signums: int) -> None:
    """Training step ``step`` (from 1) gets ``signums``, as from a terminal or a scheduler, part-way through."""
    original = Trainer.training_step

    def step_then_signal(self, *args, **kwargs):
        loss = original(self, *args, **kwargs)
        if self.state.global_step == step - 1:
            for signum in signums:
                os.kill(os.getpid(), signum)
        return loss

    monkeypatch.setattr(Trainer, "training_step", step_then_signal)


def _probs(folder: Path) -> np.ndarray:
    return np.array([json.loads(l)["probs"] for l in (folder / "test_predictions.jsonl").read_text().splitlines()])


def _training(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["training"]


@pytest.mark.parametrize("signum, step", [(signal.SIGINT, 7), (signal.SIGTERM, 7), (signal.SIGHUP, 7),
                                          (signal.SIGINT, PER_EPOCH), (signal.SIGINT, PER_EPOCH + 4)])
def test_a_signal_saves_the_step_it_came_in_and_resume_ends_as_an_unbroken_run(tiny_bert: Path, toy_data: Path,
                                                                                tmp_path: Path, monkeypatch,
                                                                                signum: int, step: int) -> None:
    """Step 7 is mid-epoch: the epoch's end must not then evaluate, as an unbroken run does not there. Step 10
    ends the epoch: its evaluation must still come, and the resumed run must not repeat it. Step 14 is in the
    second epoch, whose order the resumed run drew from the RNG state the run began with (EpochOrder)."""
    common = _common(tiny_bert, toy_data)
    run_training(TrainConfig(out=str(tmp_path / "ref"), **common))
    with monkeypatch.context() as patch:
        _signal_in_step(patch, step, signum)
        with pytest.raises(KeyboardInterrupt) as stopped:  # as a Stopped, not a bare one that would end pytest
            run_training(TrainConfig(out=str(tmp_path / "run"), **common))
    assert isinstance(stopped.value, Stopped) and (stopped.value.signum, stopped.value.step) == (signum, step)
    partial = tmp_path / "run.partial"
    assert (partial / f"checkpoint-{step}").is_dir() and not (tmp_path / "run").exists()
    state = json.loads((partial / f"checkpoint-{step}" / "trainer_state.json").read_text())
    evaluated = [h["step"] for h in state["log_history"] if "eval_accuracy" in h]
    assert evaluated == ([PER_EPOCH] if step >= PER_EPOCH else [])

    run_training(TrainConfig(out=str(tmp_path / "run"), resume=True, **common))
    ran, ref = _training(tmp_path / "run"), _training(tmp_path / "ref")
    assert ran["resumed_from"].endswith(f"checkpoint-{step}")
    assert (ran["steps"], ran["best_dev_accuracy"]) == (ref["steps"], ref["best_dev_accuracy"])
    np.testing.assert_allclose(_probs(tmp_path / "run"), _probs(tmp_path / "ref"), rtol=0, atol=1e-6)


def test_a_resumed_runs_wall_time_counts_the_sessions_before_it(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                                  monkeypatch) -> None:
    """Its wall time was the last process's alone, below its train time, which counts every session: a resumed
    comparison's report summed the last parts of its cells."""
    with monkeypatch.context() as patch:
        _signal_in_step(patch, 7, signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            run_training(TrainConfig(out=str(tmp_path / "run"), **_common(tiny_bert, toy_data)))
    state_file = tmp_path / "run.partial" / "checkpoint-7" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    state["stateful_callbacks"]["RunClock"]["args"]["before"] = 1000.0  # the first session trained 1000 s
    state_file.write_text(json.dumps(state))
    run_training(TrainConfig(out=str(tmp_path / "run"), resume=True, **_common(tiny_bert, toy_data)))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["training"]["earlier_seconds"] == 1000.0
    assert 1000 < manifest["cost"]["train_seconds"] <= manifest["cost"]["wall_seconds"] < 1100


def test_a_second_signal_stops_at_once(tiny_bert: Path, toy_data: Path, tmp_path: Path, monkeypatch) -> None:
    _signal_in_step(monkeypatch, 7, signal.SIGINT, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt) as stopped:
        run_training(TrainConfig(out=str(tmp_path / "run"), **_common(tiny_bert, toy_data)))
    assert not isinstance(stopped.value, Stopped)
    assert not list((tmp_path / "run.partial").glob("checkpoint-*"))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back as it was


def test_the_command_says_where_it_stopped_and_exits_as_the_signal_asks(tiny_bert: Path, toy_data: Path,
                                                                        tmp_path: Path, monkeypatch, capfd) -> None:
    out = tmp_path / "run"
    _signal_in_step(monkeypatch, 3, signal.SIGTERM)
    args = ["train", "--data", str(toy_data), "--model", str(tiny_bert), "--out", str(out), "--bf16", "off",
            "--method", "full", "--batch-size", "16"]
    assert main(args) == 128 + signal.SIGTERM
    err = capfd.readouterr().err  # the stopping line is written to file descriptor 2, safe in a signal handler
    assert "ctxlearn: stopping at the end of this step, once a checkpoint is saved there (Ctrl-C again" in err
    assert (f"ctxlearn: interrupted; a checkpoint was saved at step 3; rerun with --resume to continue training "
            f"from the last checkpoint (`ctxlearn train --out {out} --resume` is enough") in err
    assert signal.getsignal(signal.SIGTERM) == signal.getsignal(signal.SIGHUP) == signal.SIG_DFL  # put back


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_outside_training_ends_a_command_as_ctrl_c_does(tmp_path: Path, monkeypatch, capsys,
                                                                 signum: int) -> None:
    """Its default ended the process without a word, or the hint that says how to go on."""
    import ctxlearn.cli as cli

    def terminated(args):
        os.kill(os.getpid(), signum)
        raise AssertionError("the signal should have stopped the command")

    monkeypatch.setattr(cli, "cmd_predict", terminated)
    assert main(["predict", str(tmp_path), "--input", "a.csv", "--output", "b.csv"]) == 128 + signum
    assert capsys.readouterr().err.startswith("ctxlearn: interrupted; rerun the same command to continue")
