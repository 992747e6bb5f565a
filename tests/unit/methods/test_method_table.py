"""Every method through one table of checks on a tiny random-init BERT, for classification and for
token tagging: trainable-parameter count as expected, loss falls (or the head fits), save/load gives
identical probabilities, and the artifact holds only what the method changed."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import DataCollatorWithPadding

from ctxlearn.config import TrainConfig
from ctxlearn.data import Fields
from ctxlearn.data.readers import read_examples
from ctxlearn.methods import METHODS
from ctxlearn.data.tagged import read_bio
from ctxlearn.predict import Predictor
from ctxlearn.predict_tagging import TaggingPredictor
from ctxlearn.train.run import run_training
from ctxlearn.train.encode import encode
from conftest import write_toy  # tests/conftest.py


def expected_trainable(name: str, tiny_bert: Path, n_labels: int) -> int:
    """Counted from the backbone's structure, independently of the method code."""
    from transformers import BertModel

    bb = BertModel.from_pretrained(tiny_bert, add_pooling_layer=False)
    h, inner, layers = bb.config.hidden_size, bb.config.intermediate_size, bb.encoder.layer
    head = h * n_labels + n_labels
    if name == "full":
        return sum(p.numel() for p in bb.parameters()) + head
    if name == "head":
        return head
    if name == "topk":  # default k = 2 = all layers of the tiny model
        return sum(p.numel() for p in layers[-2:].parameters()) + head
    if name == "lora":  # r = 8 on attention.output.dense, intermediate.dense, output.dense: r * (in + out) each
        return len(layers) * 8 * ((h + h) + (h + inner) + (inner + h)) + head
    if name == "adalora":  # init_r = 12 on all six matrices: P (r, in), Q (out, r), E (r,)
        shapes = [(h, h)] * 4 + [(h, inner), (inner, h)]
        return len(layers) * sum(12 * (a + b) + 12 for a, b in shapes) + head
    if name == "ia3":  # a scale per key and value output and per feed-forward activation
        return len(layers) * (2 * h + inner) + head
    if name == "adapter":  # two bottlenecks of 64 per layer (down, up, biases) and every LayerNorm
        n_norms = 1 + 2 * len(layers)
        return len(layers) * 2 * (2 * h * 64 + 64 + h) + n_norms * 2 * h + head
    if name == "prefix":  # 20 virtual keys and values per layer
        return 20 * len(layers) * 2 * h + head
    if name == "prompt":  # 20 virtual input embeddings
        return 20 * h + head
    raise AssertionError(f"no expectation for {name}; add one when registering a method")


# lr and epochs chosen so the tiny random-init model learns the toy cue in a few epochs (far above the
# methods' defaults, which are for pretrained encoders and thousands of steps).
SETTINGS = {"full": (3e-3, 10), "head": (0.0, 0.0), "topk": (3e-3, 10), "lora": (1e-2, 12), "adalora": (3e-2, 8),
            "ia3": (1e-1, 10), "adapter": (3e-2, 10), "prefix": (1e-1, 8), "prompt": (1e-1, 8)}
# prompt and prefix tuning's 20 virtual tokens take positions of the tiny models' 128 ahead of the input
# (the toy texts are a few words long, so this truncates none)
MAX_LENGTH = 64
PEFT = {"lora", "adalora", "ia3", "prefix", "prompt"}  # saved as a peft adapter/


@pytest.fixture(scope="module")
def tiny_encoder(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT marked as a mean-pooling sentence encoder, like the packaged MiniLM. Its random
    [CLS] vector carries too little of the cue for methods that leave attention alone (adapter, ia3)
    or only add to the input (prompt) to learn the toy task in seconds; the pair test keeps [CLS]."""
    folder = tmp_path_factory.mktemp("tiny-encoder")
    shutil.copytree(tiny_bert, folder, dirs_exist_ok=True)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    return folder


@pytest.mark.parametrize("name", METHODS.names())
def test_method_table(name: str, tiny_encoder: Path, toy_data: Path, tmp_path: Path) -> None:
    lr, epochs = SETTINGS[name]
    out = tmp_path / name
    result = run_training(TrainConfig(data=str(toy_data), model=str(tiny_encoder), method=name, out=str(out), lr=lr,
                                      epochs=epochs, batch_size=16, patience=0, bf16="off", seed=1,
                                      max_length=MAX_LENGTH))
    assert result["trainable_params"] == expected_trainable(name, tiny_encoder, 2)

    manifest = json.loads((out / "manifest.json").read_text())
    if METHODS.get(name).fit == "trainer":
        curve = manifest["training"]["loss_curve"]
        # a quarter of the logged losses at each end: single logs of 16 rows are noisy, and which rows a
        # dropout mask hits moves the last two logs of the slowest learner (prompt) by 0.1 either way
        q = len(curve) // 4
        assert q >= 1 and np.mean(curve[-q:]) < 0.85 * np.mean(curve[:q]), curve
    assert result["dev_accuracy"] >= 0.75, result

    saved = [json.loads(line)["probs"] for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    with warnings.catch_warnings():  # a reload that warns (peft's rank_pattern alarm on adalora) would alarm users
        warnings.simplefilter("error", RuntimeWarning)
        predictor = Predictor(out)
    reloaded = predictor.predict_proba(read_examples(toy_data / "test.jsonl", Fields()))
    np.testing.assert_allclose(reloaded, np.array(saved), rtol=0, atol=1e-6)

    stored = {p.name for p in out.iterdir()}
    assert {"head.safetensors", "tokenizer", "manifest.json", "config.yaml", "report.md", "confusion.png"} <= stored
    assert ("backbone" in stored) == (name in {"full", "topk"})
    assert ("adapter" in stored) == (name in PEFT)
    assert ("bottleneck" in stored) == (name == "adapter")
    assert not (tmp_path / f"{name}.partial").exists()
    if name == "adalora":  # ranks were reallocated: at most target_r = 8 per matrix on average stay
        pattern = json.loads((out / "adapter" / "adapter_config.json").read_text())["rank_pattern"]
        assert pattern and 0 < sum(map(sum, pattern.values())) <= 8 * len(pattern), pattern


@pytest.mark.parametrize("name", METHODS.names())
def test_method_table_tagging(name: str, tiny_encoder: Path, toy_conll: Path, tmp_path: Path) -> None:
    """The same checks for token tagging (task inferred from the .conll files): a head over every token."""
    lr, epochs = SETTINGS[name]
    out = tmp_path / name
    result = run_training(TrainConfig(data=str(toy_conll), model=str(tiny_encoder), method=name, out=str(out), lr=lr,
                                      epochs=epochs, batch_size=16, patience=0, bf16="off", seed=1,
                                      max_length=MAX_LENGTH))
    labels = json.loads((out / "labels.json").read_text())
    assert result["task"] == "tagging" and labels == ["O", "B-NEG", "I-NEG", "B-POS", "I-POS"]
    assert result["trainable_params"] == expected_trainable(name, tiny_encoder, len(labels))

    manifest = json.loads((out / "manifest.json").read_text())
    if METHODS.get(name).fit == "trainer":
        curve = manifest["training"]["loss_curve"]
        assert len(curve) >= 4 and np.mean(curve[-2:]) < 0.5 * np.mean(curve[:2]), curve
    assert result["dev_f1"] >= 0.8, result

    saved = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    pred = TaggingPredictor(out)
    reloaded = pred.predict(read_bio(toy_conll / "test.conll"))
    assert reloaded.tags == [s["pred"] for s in saved]
    np.testing.assert_allclose(np.concatenate(reloaded.scores), np.concatenate([s["scores"] for s in saved]),
                               rtol=0, atol=1e-6)
    stored = {p.name for p in out.iterdir()}
    assert {"head.safetensors", "tokenizer", "manifest.json", "config.yaml", "report.md", "confusion.png"} <= stored
    assert ("backbone" in stored) == (name in {"full", "topk"}) and ("adapter" in stored) == (name in PEFT)


@pytest.mark.parametrize("name", METHODS.names())
def test_method_pairs(name: str, tiny_bert: Path, tmp_path: Path) -> None:
    """Text-pair data: segment ids reach the backbone, and save/load gives identical probabilities."""
    data = write_toy(tmp_path / "pairs", pairs=True)
    lr, epochs = SETTINGS[name]
    out = tmp_path / name
    run_training(TrainConfig(data=str(data), model=str(tiny_bert), method=name, out=str(out), lr=lr,
                             epochs=min(epochs, 1), batch_size=16, patience=0, bf16="off", seed=1,
                             max_length=MAX_LENGTH))
    pred = Predictor(out)
    assert pred.fields.reads_pairs, "pairs found without flags are read as pairs again"
    examples = read_examples(data / "test.jsonl", pred.fields)
    assert examples[0].text_pair is not None
    saved = [json.loads(line)["probs"] for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(pred.predict_proba(examples), np.array(saved), rtol=0, atol=1e-6)

    rows = encode(examples[:8], pred.tokenizer, None, pred.max_length).rows
    batch = DataCollatorWithPadding(pred.tokenizer)(rows)
    assert batch["token_type_ids"].any()
    with torch.no_grad():
        feats = pred.model.features(**batch)
        no_segments = pred.model.features(batch["input_ids"], batch["attention_mask"],
                                          torch.zeros_like(batch["token_type_ids"]))
    assert (feats - no_segments).abs().max() > 1e-4, "token_type_ids were ignored"


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


def test_full_with_frozen_word_embeddings(tiny_encoder: Path, toy_data: Path, tmp_path: Path) -> None:
    """--full-freeze-embeddings: everything else trains, and the saved table is the pretrained one."""
    from transformers import BertModel

    out = tmp_path / "frozen"
    result = run_training(TrainConfig(data=str(toy_data), model=str(tiny_encoder), method="full", out=str(out), lr=3e-3,
                                      epochs=4, batch_size=16, patience=0, bf16="off", seed=1,
                                      method_options={"full": {"freeze_embeddings": True}}))
    base = BertModel.from_pretrained(tiny_encoder, add_pooling_layer=False).embeddings
    assert result["trainable_params"] == expected_trainable("full", tiny_encoder, 2) - base.word_embeddings.weight.numel()
    saved = Predictor(out).model.backbone.embeddings
    assert torch.equal(saved.word_embeddings.weight, base.word_embeddings.weight)
    assert not torch.equal(saved.position_embeddings.weight, base.position_embeddings.weight), "the rest still trains"
