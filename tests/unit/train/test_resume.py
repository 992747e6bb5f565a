"""An interrupted run continued with --resume ends where an uninterrupted run ends."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import Trainer

from ctxlearn.config import TrainConfig
from ctxlearn.train.run import run_training


def _probs(folder: Path) -> np.ndarray:
    return np.array([json.loads(l)["probs"] for l in (folder / "test_predictions.jsonl").read_text().splitlines()])


def test_resume_matches_uninterrupted(tiny_bert: Path, toy_data: Path, tmp_path: Path, monkeypatch) -> None:
    common = dict(data=str(toy_data), model=str(tiny_bert), method="full", lr=3e-3, epochs=3, batch_size=16,
                  patience=0, bf16="off", seed=3)
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
    assert any((tmp_path / "run.partial").glob("checkpoint-*"))

    resumed = run_training(TrainConfig(out=str(tmp_path / "run"), resume=True, **common))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["training"]["resumed_from"], "the second run should have continued from the checkpoint"
    assert resumed["test_accuracy"] == reference["test_accuracy"]
    np.testing.assert_allclose(_probs(tmp_path / "run"), _probs(tmp_path / "ref"), rtol=0, atol=1e-6)


def test_without_resume_a_stale_partial_is_discarded(tiny_bert: Path, toy_data: Path, tmp_path: Path) -> None:
    stale = tmp_path / "run.partial" / "checkpoint-999"
    stale.mkdir(parents=True)
    run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method="full", out=str(tmp_path / "run"),
                             lr=3e-3, epochs=1, batch_size=16, patience=0, bf16="off"))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["training"]["resumed_from"] is None
    assert not stale.exists()
