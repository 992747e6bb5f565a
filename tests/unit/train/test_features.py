"""Cached frozen-backbone features belong to the model's weights, not to the folder they sit in; the head
fitted on them stays finite."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from transformers import BertConfig, BertModel

from ctxlearn import artifact
from ctxlearn.config import TrainConfig
from ctxlearn.train.features import fit_head
from ctxlearn.train.run import run_training


def _probs(folder: Path) -> np.ndarray:
    return np.array([json.loads(l)["probs"] for l in (folder / "test_predictions.jsonl").read_text().splitlines()])


def test_a_model_replaced_in_place_gets_its_own_features(tiny_bert: Path, toy_data: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    common = dict(data=str(toy_data), model=str(model), method="head", bf16="off")
    run_training(TrainConfig(out=str(tmp_path / "first"), **common))
    torch.manual_seed(1)  # pretrained again into the same folder: other weights, same path
    BertModel(BertConfig.from_pretrained(model), add_pooling_layer=False).save_pretrained(model)
    run_training(TrainConfig(out=str(tmp_path / "second"), **common))
    assert not np.allclose(_probs(tmp_path / "first"), _probs(tmp_path / "second"), atol=1e-4)


def test_weights_are_hashed_once_until_a_file_changes(tiny_bert: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    artifact._sha256_of.cache_clear()
    first = artifact.weights_sha256(str(model))
    assert artifact.weights_sha256(str(model)) == first and artifact._sha256_of.cache_info().misses == 1
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b" ")  # the same size, rewritten in place
    assert artifact.weights_sha256(str(model)) != first


def test_a_run_records_whether_it_found_its_features_and_the_estimate_follows(tiny_bert: Path, toy_data: Path,
                                                                             tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)  # features of its own: none stored by other tests
    common = dict(data=str(toy_data), model=str(model), method="head", bf16="off")
    before = run_training(TrainConfig(out=str(tmp_path / "estimate-1"), estimate_steps=1, **common))
    assert not before["features_cached"] and before["epoch_seconds"] > before["cached_epoch_seconds"]
    cached = []
    for name in ("first", "second"):
        run_training(TrainConfig(out=str(tmp_path / name), **common))
        cached.append(json.loads((tmp_path / name / "manifest.json").read_text())["training"]["features_cached"])
    assert cached == [False, True]
    after = run_training(TrainConfig(out=str(tmp_path / "estimate-2"), estimate_steps=1, **common))
    assert after["features_cached"] and after["epoch_seconds"] == after["cached_epoch_seconds"]


def test_a_column_of_float_rounding_gets_no_weight_in_the_fitted_head() -> None:
    # MiniLM's last LayerNorm zeroes a few dimensions (gain ~1e-33): their features vary only by rounding.
    # Standardised and folded into the head, such a column got a weight of ~1e9, and fine-tuning from that head
    # overflowed the gradient norm to inf on every step.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = rng.normal(size=(300, 4)) + 2.0 * y[:, None]
    x[:, 2] = -3.0 + 1e-9 * rng.normal(size=300)
    holder = SimpleNamespace(head=torch.nn.Linear(4, 2))
    fit_head(holder, x[:200], y[:200], x[200:], y[200:], [1.0], seed=0)
    weight = holder.head.weight.detach()
    assert (weight[:, 2] == 0).all()
    assert weight.abs().max() < 10.0
    logits = holder.head(torch.as_tensor(x[200:], dtype=torch.float32))
    assert (logits.argmax(-1).numpy() == y[200:]).mean() > 0.9


def test_the_c_path_runs_from_the_strongest_penalty_and_stops_after_two_worse_values() -> None:
    """Weak penalties cost the most iterations (MIT Movie: 28 s at C = 100 against 8 s at 0.01) and lost there."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    x = rng.normal(size=(400, 6)) + 1.5 * np.eye(3)[y] @ rng.normal(size=(3, 6))
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.99, 0.99])  # best at the second C, then two below it: stop there
    tried = []

    def dev_score(pred: np.ndarray) -> float:
        tried.append(pred)
        return next(scores)

    holder = SimpleNamespace(head=torch.nn.Linear(6, 3))
    grid = [100.0, 0.01, 10.0, 0.1, 1.0, 1000.0]  # any order: fitted from the smallest C up
    fitted = fit_head(holder, x[:300], y[:300], x[300:], y[300:], grid, seed=0, score=("toy", dev_score))
    assert fitted == {"best_dev_toy": 0.7, "head_C": 0.1} and len(tried) == 4
    alone = LogisticRegression(C=0.1, max_iter=2000).fit((x[:300] - x[:300].mean(0)) / x[:300].std(0), y[:300])
    ours = holder.head(torch.as_tensor(x[300:], dtype=torch.float32)).argmax(-1).numpy()
    assert (ours == alone.predict((x[300:] - x[:300].mean(0)) / x[:300].std(0))).mean() > 0.98  # the same optimum
