"""An interrupted run continued with --resume ends where an uninterrupted run ends."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_toy
from transformers import Trainer

from ctxlearn.config import TrainConfig
from ctxlearn.errors import ConfigError
from ctxlearn.train.resume import RECORD, cut_off, identity, last_checkpoint, open_work
from ctxlearn.train.run import run_training


def _probs(folder: Path) -> np.ndarray:
    return np.array([json.loads(l)["probs"] for l in (folder / "test_predictions.jsonl").read_text().splitlines()])


@pytest.mark.parametrize("evals", [1, 2])  # 2: the first checkpoint is mid-epoch, and the resumed epoch skips its batches
def test_resume_matches_uninterrupted(tiny_bert: Path, toy_data: Path, tmp_path: Path, monkeypatch, evals: int) -> None:
    common = dict(data=str(toy_data), model=str(tiny_bert), method="full", lr=3e-3, epochs=3, batch_size=16,
                  patience=0, bf16="off", seed=3, evals_per_epoch=evals)
    reference = run_training(TrainConfig(out=str(tmp_path / "ref"), **common))

    original = Trainer._save_checkpoint

    def save_then_die(self, *args, **kwargs):  # the process is killed right after its first checkpoint
        original(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_training(TrainConfig(out=str(tmp_path / "run"), **common))
    monkeypatch.setattr(Trainer, "_save_checkpoint", original)
    assert not (tmp_path / "run").exists(), "a crashed run must not leave a half-written run folder"
    (checkpoint,) = (tmp_path / "run.partial").glob("checkpoint-*")
    assert checkpoint.name == f"checkpoint-{10 // evals}"  # 160 rows in batches of 16
    _say_the_first_session_took(checkpoint, 1000.0)

    resumed = run_training(TrainConfig(out=str(tmp_path / "run"), resume=True, **common))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["training"]["resumed_from"], "the second run should have continued from the checkpoint"
    cost = manifest["cost"]  # the time covers both sessions, as the tokens do
    assert 1000 < cost["train_seconds"] < 2000
    assert cost["train_tokens_per_s"] == pytest.approx(manifest["training"]["useful_train_tokens"] / cost["train_seconds"])
    assert resumed["test_accuracy"] == reference["test_accuracy"]
    np.testing.assert_allclose(_probs(tmp_path / "run"), _probs(tmp_path / "ref"), rtol=0, atol=1e-6)


def test_resume_passes_over_a_checkpoint_whose_save_was_cut_off(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                                 monkeypatch, capsys) -> None:
    """A full disk mid-save left a checkpoint without its trainer state, and --resume then failed on it
    ("checkpoint-10/trainer_state.json: No such file or directory") until the user found and deleted it."""
    common = dict(data=str(toy_data), model=str(tiny_bert), method="full", lr=3e-3, epochs=3, batch_size=16,
                  patience=0, bf16="off", seed=3, evals_per_epoch=2)
    reference = run_training(TrainConfig(out=str(tmp_path / "ref"), **common))
    original = Trainer._save_checkpoint

    def cut_off_at_step_10(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.state.global_step == 10:  # the disk filled before the trainer state was written
            (Path(self.args.output_dir) / "checkpoint-10" / "trainer_state.json").unlink()
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save_checkpoint", cut_off_at_step_10)
    with pytest.raises(KeyboardInterrupt):
        run_training(TrainConfig(out=str(tmp_path / "run"), **common))
    monkeypatch.setattr(Trainer, "_save_checkpoint", original)
    work = tmp_path / "run.partial"
    assert last_checkpoint(work) == work / "checkpoint-5" and cut_off(work) == [work / "checkpoint-10"]
    capsys.readouterr()
    resumed = run_training(TrainConfig(out=str(tmp_path / "run"), resume=True, **common))
    assert "checkpoint-10: its save was cut off" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["training"]["resumed_from"].endswith("checkpoint-5")
    assert resumed["test_accuracy"] == reference["test_accuracy"]
    np.testing.assert_allclose(_probs(tmp_path / "run"), _probs(tmp_path / "ref"), rtol=0, atol=1e-6)


def test_a_half_written_trainer_state_is_no_whole_checkpoint(tmp_path: Path) -> None:
    for step, state in ((3, "{}"), (7, '{"global_step": 7'), (12, None)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if state is not None:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-3"
    assert cut_off(tmp_path) == [tmp_path / "checkpoint-7", tmp_path / "checkpoint-12"]
    assert last_checkpoint(tmp_path / "missing") is None and cut_off(tmp_path / "missing") == []


def _say_the_first_session_took(checkpoint: Path, seconds: float) -> None:
    path = checkpoint / "trainer_state.json"
    state = json.loads(path.read_text())
    assert 0 < state["stateful_callbacks"]["RunClock"]["args"]["before"] < 1000
    state["stateful_callbacks"]["RunClock"]["args"]["before"] = seconds
    path.write_text(json.dumps(state))


def test_without_resume_a_partial_with_no_checkpoint_is_discarded(tiny_bert: Path, toy_data: Path,
                                                                   tmp_path: Path) -> None:
    stale = tmp_path / "run.partial" / "logs"
    stale.mkdir(parents=True)
    run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method="full", out=str(tmp_path / "run"),
                             lr=3e-3, epochs=1, batch_size=16, patience=0, bf16="off"))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["training"]["resumed_from"] is None
    assert not stale.exists()


def test_without_resume_an_interrupted_checkpoint_is_kept_and_named(tiny_bert: Path, toy_data: Path,
                                                                    tmp_path: Path) -> None:
    for step in (9, 10, 999):  # the latest by step, not by name
        (tmp_path / "run.partial" / f"checkpoint-{step}").mkdir(parents=True)
    cfg = TrainConfig(data=str(toy_data), model=str(tiny_bert), method="full", out=str(tmp_path / "run"), bf16="off")
    refused = (r"run.partial holds an interrupted run, saved at checkpoint-999: continue it with --resume, or "
               r"delete that folder to start over \(rm -r .*run.partial\)")
    with pytest.raises(ConfigError, match=refused):
        run_training(cfg)
    assert (tmp_path / "run.partial" / "checkpoint-999").is_dir() and not (tmp_path / "run").exists()


EARLY = dict(method="full", lr=6e-3, epochs=6, batch_size=16, patience=2, bf16="off", seed=3)  # stops after epoch 4
PER_EPOCH = 10  # steps: 160 training examples in batches of 16


def _early_run(tiny_bert: Path, data: Path, out: Path, **kw) -> dict:
    return run_training(TrainConfig(data=str(data), model=str(tiny_bert), out=str(out), **EARLY, **kw))


@pytest.fixture(scope="module")
def early(tiny_bert: Path, tmp_path_factory) -> tuple[Path, Path]:
    """(data, run folder) of an uninterrupted run that early stopping ends before its last epoch."""
    root = tmp_path_factory.mktemp("early")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CTXLEARN_CACHE", str(root / "cache"))
        _early_run(tiny_bert, write_toy(root / "toy"), root / "ref")
    assert _training(root / "ref")["steps"] < EARLY["epochs"] * PER_EPOCH, "the reference must stop early"
    return root / "toy", root / "ref"


def _training(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["training"]


def _same_run(folder: Path, reference: Path) -> None:
    ran, ref = _training(folder), _training(reference)
    assert ran["resumed_from"], "the second run should have continued from the checkpoint"
    assert (ran["steps"], ran["epochs_run"], ran["best_dev_accuracy"]) == (ref["steps"], ref["epochs_run"],
                                                                           ref["best_dev_accuracy"])
    np.testing.assert_allclose(_probs(folder), _probs(reference), rtol=0, atol=1e-6)


def _killed_then_resumed(tiny_bert: Path, data: Path, out: Path, monkeypatch, target: object, name: str,
                        dying: object) -> None:
    """A run killed where ``dying``, put in place of ``target.name``, raises; then the same run with --resume."""
    monkeypatch.setattr(target, name, dying)
    with pytest.raises(KeyboardInterrupt):
        _early_run(tiny_bert, data, out)
    monkeypatch.undo()
    _early_run(tiny_bert, data, out, resume=True)


def test_resume_keeps_the_count_of_evaluations_without_improvement(tiny_bert: Path, early: tuple[Path, Path],
                                                                   tmp_path: Path, monkeypatch) -> None:
    data, reference = early
    kill_at = _training(reference)["steps"] - PER_EPOCH  # one epoch before the stop: one evaluation without gain
    original = Trainer._save_checkpoint

    def save_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.state.global_step == kill_at:
            raise KeyboardInterrupt

    _killed_then_resumed(tiny_bert, data, tmp_path / "run", monkeypatch, Trainer, "_save_checkpoint", save_then_die)
    _same_run(tmp_path / "run", reference)


def test_resume_with_out_alone_continues_with_the_settings_the_run_was_started_with(
        tiny_bert: Path, early: tuple[Path, Path], tmp_path: Path, monkeypatch, capsys) -> None:
    """--resume needed every flag of the interrupted run typed again (a left-out --lr was refused as a
    change); OUT.partial's record holds them."""
    from ctxlearn.cli import main

    data, reference = early
    original = Trainer._save_checkpoint

    def save_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _early_run(tiny_bert, data, tmp_path / "run")
    monkeypatch.undo()
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--json"]) == 0
    assert f"--resume: the run in {tmp_path / 'run.partial'} was started with --data {data} --method full" in (
        capsys.readouterr().err)
    _same_run(tmp_path / "run", reference)
    assert _training(tmp_path / "run")["resumed_from"]


def test_the_recorded_settings_hold_the_run_s_method_options_and_flags_given_now_are_still_checked(
        tiny_bert: Path, toy_data: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from ctxlearn.cli import build_parser, main, train_config
    from ctxlearn.train.resume import recorded_settings

    cfg = TrainConfig(data=str(toy_data), model=str(tiny_bert), out=str(tmp_path / "run"), method="lora", lr=2e-3,
                      method_options={"lora": {"r": 4}, "topk": {"k": 3}})
    open_work(cfg, tmp_path / "run.partial", identity(cfg, {"train": "abc"}, str(tiny_bert)))
    recorded = recorded_settings(tmp_path / "run")
    assert recorded["method_options"] == {"lora": {"r": 4}} and recorded["lr"] == 2e-3
    assert "out" not in recorded and "train data sha256" not in recorded
    args = build_parser().parse_args(["train", "--out", str(tmp_path / "run"), "--resume", "--lora-alpha", "8"])
    resumed = train_config(args)
    assert (resumed.data, resumed.method, resumed.lr) == (str(toy_data), "lora", 2e-3)
    assert resumed.method_options["lora"] == {"r": 4, "alpha": 8}  # refused later, as a change, by run_training
    named = build_parser().parse_args(["train", "--data", str(toy_data), "--out", str(tmp_path / "run"), "--resume"])
    assert train_config(named).method == "full", "a command that names its data gives every setting itself"
    assert recorded_settings(tmp_path / "other") == {}
    assert main(["train", "--out", str(tmp_path / "other"), "--resume"]) == 2
    assert f"--resume --out {tmp_path / 'other'} alone continues an interrupted run, and" in capsys.readouterr().err


def test_resume_after_training_finished_only_reloads_the_best(tiny_bert: Path, early: tuple[Path, Path],
                                                              tmp_path: Path, monkeypatch) -> None:
    from ctxlearn.train import run

    def die(*args, **kwargs):  # killed while scoring dev and test, after early stopping had ended training
        raise KeyboardInterrupt

    data, reference = early
    _killed_then_resumed(tiny_bert, data, tmp_path / "run", monkeypatch, run, "evaluate_splits", die)
    _same_run(tmp_path / "run", reference)


def _killed_before_training(tiny_bert: Path, data: Path, out: Path, monkeypatch) -> None:
    from ctxlearn.train import run

    def die(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "fit", die)
    with pytest.raises(KeyboardInterrupt):
        _early_run(tiny_bert, data, out)
    monkeypatch.undo()


@pytest.mark.parametrize("change, named", [({"lr": 1e-3}, "lr is 0.001, but .* was made with 0.006"),
                                           ({"epochs": 3.0}, "epochs is 3.0, but .* was made with 6"),
                                           ({"seed": 4}, "seed is 4, but .* was made with 3"),
                                           ({"max_train": 100}, "max_train is 100, but .* was made with 0"),
                                           ({"method_options": {"full": {"freeze_embeddings": True}}},
                                            "--full-\\* options is {'freeze_embeddings': True}, but .* was made with {}")])
def test_resume_refuses_a_changed_run(tiny_bert: Path, toy_data: Path, tmp_path: Path, monkeypatch, change: dict,
                                      named: str) -> None:
    _killed_before_training(tiny_bert, toy_data, tmp_path / "run", monkeypatch)
    with pytest.raises(ConfigError, match=named) as err:
        run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), out=str(tmp_path / "run"), resume=True,
                                 **{**EARLY, **change}))
    assert f"the interrupted run in {tmp_path / 'run.partial'}" in str(err.value)
    assert "delete it and rerun without --resume" in str(err.value)


def test_resume_refuses_data_edited_in_place(tiny_bert: Path, toy_data: Path, tmp_path: Path, monkeypatch) -> None:
    _killed_before_training(tiny_bert, toy_data, tmp_path / "run", monkeypatch)
    train = toy_data / "train.jsonl"
    train.write_text("\n".join(train.read_text().splitlines()[1:]) + "\n")
    with pytest.raises(ConfigError, match="train data sha256 is"):
        _early_run(tiny_bert, toy_data, tmp_path / "run", resume=True)


def test_resume_with_nothing_to_go_on_from_says_it_starts_from_the_beginning(tiny_bert: Path, early: tuple[Path, Path],
                                                                             tmp_path: Path, capsys) -> None:
    """--resume on a finished run (no OUT.partial) trained it again from the start, without a word."""
    _early_run(tiny_bert, early[0], tmp_path / "run", resume=True)
    assert (f"--resume: {tmp_path / 'run.partial'} holds no checkpoint to go on from, so this run starts from the "
            "beginning") in capsys.readouterr().err
    assert (tmp_path / "run" / "manifest.json").is_file()


def test_what_decides_nothing_may_change_on_resume(tmp_path: Path) -> None:
    def run(**kw) -> dict:
        return identity(TrainConfig(data="d", method="lora", **kw), {"train": "h"}, str(tmp_path))

    assert run() == run(out="elsewhere", threads=2, resume=True, method_options={"adalora": {"init_r": 4}})
    assert run() != run(method_options={"lora": {"r": 4}})


def test_a_setting_added_after_the_run_began_counts_as_its_default(tmp_path: Path) -> None:
    def start(**kw) -> TrainConfig:
        cfg = TrainConfig(data="d", out=str(tmp_path / "run"), **kw)
        open_work(cfg, tmp_path / "work", identity(cfg, {"train": "h"}, str(tmp_path)))
        return cfg

    start()
    record = json.loads((tmp_path / "work" / RECORD).read_text())
    del record["label_smoothing"]  # as a run started before the flag existed wrote it
    (tmp_path / "work" / RECORD).write_text(json.dumps(record))
    start(resume=True)  # the default: the same run
    (tmp_path / "work" / RECORD).write_text(json.dumps(record))
    with pytest.raises(ConfigError, match="label_smoothing is 0.1, but .* was made with 0.0"):
        start(resume=True, label_smoothing=0.1)


def _write_many(path: Path) -> int:
    from ctxlearn.train.resume import write_json

    for i in range(300):
        write_json(path, {"steps": 5})
    return 300


def test_processes_writing_the_same_record_do_not_take_each_others_temporary_file(tmp_path: Path) -> None:
    # Every process of a launched run writes finished.json; a shared temporary name let one process's rename
    # take the file the other was about to rename (FileNotFoundError in test_dist, now and then).
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_write_many, [tmp_path / "finished.json"] * 2) == [300, 300]
    assert json.loads((tmp_path / "finished.json").read_text()) == {"steps": 5}
    assert [p.name for p in tmp_path.iterdir()] == ["finished.json"]


def test_a_run_started_with_a_relative_data_path_resumes_from_another_folder(tiny_bert: Path, toy_data: Path,
                                                                             tmp_path: Path, monkeypatch) -> None:
    """The listed `ctxlearn train --out DIR/run --resume`, run from elsewhere, said 'toy: no such file or folder
    (given with --data)', and --data naming the same file from there was refused as another data."""
    from ctxlearn.train.resume import recorded_settings

    monkeypatch.chdir(toy_data.parent)
    cfg = TrainConfig(data=toy_data.name, model=str(tiny_bert), out=str(tmp_path / "run"), method="head")
    run = identity(cfg, {"train": "abc"}, str(tiny_bert))
    open_work(cfg, tmp_path / "run.partial", run)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert recorded_settings(tmp_path / "run")["data"] == str(toy_data)
    again = TrainConfig(data=str(toy_data), model=str(tiny_bert), out=str(tmp_path / "run"), method="head", resume=True)
    open_work(again, tmp_path / "run.partial", identity(again, {"train": "abc"}, str(tiny_bert)))  # not refused
    other = tmp_path / "other"
    other.mkdir()
    moved = TrainConfig(**{**vars(again), "data": str(other)})
    with pytest.raises(ConfigError, match="data is "):
        open_work(moved, tmp_path / "run.partial", identity(moved, {"train": "abc"}, str(tiny_bert)))
