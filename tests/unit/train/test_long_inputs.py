"""Long texts in a run: trained on and read in windows, or trained truncated and read in windows."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import NEGATIVE, POSITIVE, WORDS, write_toy

from ctxlearn.config import TrainConfig
from ctxlearn.errors import ConfigError
from ctxlearn.predict import Predictor, open_predictor
from ctxlearn.train.run import run_training

FILLER = WORDS[8:]


def late_cue(rng: random.Random, label: str) -> str:
    """24-30 filler words with the cue that decides the label among the last five: a model that reads
    only the first 10 tokens cannot see it."""
    words = [rng.choice(FILLER) for _ in range(rng.randint(24, 30))]
    words[-rng.randint(1, 5)] = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
    return " ".join(words)


def write_late_cue(folder: Path) -> Path:
    return write_toy(folder, n_train=160, n_eval=60, sentence=late_cue)


def _run(tiny_bert: Path, data: Path, out: Path, method: str = "head", **kw) -> dict:
    return run_training(TrainConfig(data=str(data), model=str(tiny_bert), method=method, out=str(out), bf16="off",
                                    max_length=12, **kw))


def _probs(folder: Path) -> np.ndarray:
    return np.array([json.loads(l)["probs"] for l in (folder / "test_predictions.jsonl").read_text().splitlines()])


def test_windows_read_what_truncation_cuts_off(tiny_bert: Path, tmp_path: Path) -> None:
    data = write_late_cue(tmp_path / "late")
    cut = _run(tiny_bert, data, tmp_path / "cut")
    whole = _run(tiny_bert, data, tmp_path / "whole", long_inputs="windows")
    short = _run(tiny_bert, data, tmp_path / "short", long_inputs="train-short")  # reads the cue, never learnt it
    assert cut["test_accuracy"] < 0.7 and short["test_accuracy"] < 0.7 and whole["test_accuracy"] > 0.9
    assert len(_probs(tmp_path / "whole")) == 60  # one prediction per text, not per window


def test_a_windowed_run_scores_dev_during_training_as_after_it(tiny_bert: Path, tmp_path: Path) -> None:
    """The Trainer's dev metric averages each text's windows as the final evaluation does; the saved
    run reads its test texts the same way after reloading."""
    run = tmp_path / "run"
    result = _run(tiny_bert, write_late_cue(tmp_path / "late"), run, method="full", long_inputs="windows", epochs=1,
                  batch_size=16, patience=0)
    best = json.loads((run / "manifest.json").read_text())["training"]["best_dev_accuracy"]
    assert best == pytest.approx(result["dev_accuracy"])
    examples, _ = Predictor(run).test_split(tmp_path / "late")
    assert np.allclose(Predictor(run).predict_proba(examples), _probs(run), atol=1e-5)


def test_train_short_trains_on_truncated_texts_and_reads_dev_and_test_in_windows(tiny_bert: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = _run(tiny_bert, write_late_cue(tmp_path / "late"), run, method="full", long_inputs="train-short",
                  epochs=1, batch_size=16, patience=0)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["training"]["steps"] == 10  # 160 texts, one row each; windows would make about 480 rows
    assert manifest["training"]["best_dev_accuracy"] == pytest.approx(result["dev_accuracy"])  # dev read in windows
    assert Predictor(run).long_inputs == "windows" and len(_probs(run)) == 60


def test_a_run_trained_truncated_can_predict_in_windows(tiny_bert: Path, tmp_path: Path) -> None:
    data = write_late_cue(tmp_path / "late")
    run = tmp_path / "cut"
    _run(tiny_bert, data, run)
    assert Predictor(run).long_inputs == "truncate"
    cut, whole = Predictor(run).evaluate(data), open_predictor(run, "windows").evaluate(data)
    assert cut["n"] == whole["n"] == 60 and whole["accuracy"] != cut["accuracy"]


def test_long_inputs_is_refused_for_a_tagging_run_and_checked_in_the_config(tmp_path: Path) -> None:
    (tmp_path / "tagger").mkdir()
    (tmp_path / "tagger" / "manifest.json").write_text(json.dumps({"task": "tagging", "method": "full", "model_source": {}}))
    with pytest.raises(ConfigError, match="--long-inputs is for fine-tuned classifiers"):
        open_predictor(tmp_path / "tagger", "windows")
    with pytest.raises(ConfigError, match="long_inputs must be one of truncate, windows, train-short, not 'whole'"):
        TrainConfig(data="d", long_inputs="whole")
