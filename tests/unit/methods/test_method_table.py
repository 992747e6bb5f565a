"""Every method through one table of checks on a tiny random-init BERT:
trainable-parameter count as expected, loss falls (or the head fits), save/load gives identical
probabilities, and the artifact holds only what the method changed."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ctxlearn.config import TrainConfig
from ctxlearn.data import Fields
from ctxlearn.data.readers import read_examples
from ctxlearn.methods import METHODS
from ctxlearn.predict import Predictor
from ctxlearn.train.run import run_training


def expected_trainable(name: str, tiny_bert: Path, n_labels: int) -> int:
    """Counted from the backbone's structure, independently of the method code."""
    from transformers import BertModel

    bb = BertModel.from_pretrained(tiny_bert, add_pooling_layer=False)
    h, layers = bb.config.hidden_size, bb.encoder.layer
    head = h * n_labels + n_labels
    if name == "full":
        return sum(p.numel() for p in bb.parameters()) + head
    if name == "head":
        return head
    if name == "topk":  # default k = 2 = all layers of the tiny model
        return sum(p.numel() for p in layers[-2:].parameters()) + head
    if name == "lora":  # r = 8 on query, key, value, attention.output.dense: r * (in + out) each
        return len(layers) * 4 * 8 * (h + h) + head
    raise AssertionError(f"no expectation for {name}; add one when registering a method")


# lr chosen so the tiny random-init model learns the toy cue in a few epochs.
SETTINGS = {"full": (3e-3, 10), "head": (0.0, 0.0), "topk": (3e-3, 10), "lora": (1e-2, 12)}


@pytest.mark.parametrize("name", METHODS.names())
def test_method_table(name: str, tiny_bert: Path, toy_data: Path, tmp_path: Path) -> None:
    lr, epochs = SETTINGS[name]
    out = tmp_path / name
    result = run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method=name, out=str(out), lr=lr,
                                      epochs=epochs, batch_size=16, patience=0, bf16="off", seed=1))
    assert result["trainable_params"] == expected_trainable(name, tiny_bert, 2)

    manifest = json.loads((out / "manifest.json").read_text())
    if METHODS.get(name).fit == "trainer":
        curve = manifest["training"]["loss_curve"]
        assert len(curve) >= 4 and np.mean(curve[-2:]) < 0.8 * np.mean(curve[:2]), curve
    assert result["dev_accuracy"] >= 0.75, result

    saved = [json.loads(line)["probs"] for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    reloaded = Predictor(out).predict_proba(read_examples(toy_data / "test.jsonl", Fields()))
    np.testing.assert_allclose(reloaded, np.array(saved), rtol=0, atol=1e-6)

    stored = {p.name for p in out.iterdir()}
    assert {"head.safetensors", "tokenizer", "manifest.json", "config.yaml", "report.md", "confusion.png"} <= stored
    assert ("backbone" in stored) == (name in {"full", "topk"})
    assert ("adapter" in stored) == (name == "lora")
    assert not (tmp_path / f"{name}.partial").exists()


def test_lora_merge_equals_unmerged(tiny_bert: Path, toy_data: Path, tmp_path: Path) -> None:
    """The saved adapter merged into the base gives the same outputs as the adapter kept apart."""
    run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method="lora", out=str(tmp_path / "r"),
                             lr=5e-3, epochs=2, batch_size=16, patience=0, bf16="off"))
    pred = Predictor(tmp_path / "r")
    examples = read_examples(toy_data / "test.jsonl", Fields())
    before = pred.predict_proba(examples)
    pred.model.backbone = pred.model.backbone.merge_and_unload()
    after = pred.predict_proba(examples)
    np.testing.assert_allclose(after, before, atol=1e-5)
    assert not any("lora" in n for n, _ in pred.model.named_parameters())
    assert isinstance(pred.model.backbone, torch.nn.Module)
