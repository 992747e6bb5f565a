"""Full fine-tuning's layer-wise learning-rate decay: each block's rate falls with its distance from
the head, on BERT's and the scratch encoder's names alike, and reaches the optimizer's groups."""
from __future__ import annotations

import pytest
from torch import nn
from transformers import BertConfig, BertModel, TrainingArguments

from ctxlearn.errors import ConfigError
from ctxlearn.methods.full import FullOptions, lr_scale, prepare
from ctxlearn.models.classifier import EncoderClassifier
from ctxlearn.scratch.hf import ScratchModel
from ctxlearn.scratch.model import ScratchConfig
from ctxlearn.train.hf import ScaledTrainer


def bert(layers: int = 3) -> EncoderClassifier:
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=32)
    return EncoderClassifier(BertModel(cfg, add_pooling_layer=False), 2)


def test_rate_falls_by_the_factor_per_block_below_the_head() -> None:
    model = bert(3)
    scale = lr_scale(model, FullOptions(layer_decay=0.5))
    got = {n: scale(n) for n, _ in model.named_parameters()}
    assert got["head.weight"] == 1.0
    assert got["backbone.encoder.layer.2.output.dense.weight"] == 0.5
    assert got["backbone.encoder.layer.0.attention.self.query.weight"] == 0.125
    assert got["backbone.embeddings.word_embeddings.weight"] == got["backbone.embeddings.LayerNorm.bias"] == 0.0625


def test_scratch_encoder_blocks_are_found_under_their_own_names() -> None:
    cfg = ScratchConfig(arch="encoder", vocab_size=40, d_model=16, n_head=2, n_layer=2, d_ff=32, max_len=16)
    model = EncoderClassifier(ScratchModel(cfg), 2)
    scale = lr_scale(model, FullOptions(layer_decay=0.5))
    by_name = {n: scale(n) for n, _ in model.named_parameters()}
    assert {v for n, v in by_name.items() if ".layers.1." in n} == {0.5}
    assert {v for n, v in by_name.items() if ".layers.0." in n} == {0.25}
    assert {v for n, v in by_name.items() if ".embed." in n} == {0.125}


def test_the_optimizer_gets_each_blocks_rate(tmp_path) -> None:
    model = bert(2)
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, use_cpu=True, report_to=[])
    optimizer = ScaledTrainer(model=model, args=args, lr_scale=lr_scale(model, FullOptions(layer_decay=0.8))).create_optimizer()
    names = {id(p): n for n, p in model.named_parameters()}
    lrs = {names[id(p)]: g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert set(lrs) == set(names.values())
    assert lrs["head.bias"] == pytest.approx(1e-3) and lrs["backbone.encoder.layer.0.intermediate.dense.weight"] == pytest.approx(6.4e-4)


def test_off_by_default_and_bad_factors_refused() -> None:
    assert lr_scale(bert(), FullOptions()) is None
    for bad in (0.0, 1.5):
        with pytest.raises(ConfigError, match=r"layer_decay must be a factor in \(0, 1\]"):
            prepare(bert(), FullOptions(layer_decay=bad))
