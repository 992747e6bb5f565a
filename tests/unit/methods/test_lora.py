"""LoRA's default targets follow the backbone's module names; an unknown naming is refused clearly."""
from __future__ import annotations

import pytest
from torch import nn
from transformers import BertConfig, BertModel

from ctxlearn.errors import ConfigError
from ctxlearn.methods.lora import LoraOptions, default_targets, prepare
from ctxlearn.scratch.hf import ScratchModel
from ctxlearn.scratch.model import ScratchConfig


def adapted(backbone: nn.Module) -> set[str]:
    """Names (under the backbone) of the modules LoRA wrapped with its default options."""
    holder = nn.Module()
    holder.backbone = backbone
    prepare(holder, LoraOptions())
    return {name.split("base_model.model.", 1)[-1] for name, module in holder.backbone.named_modules()
            if hasattr(module, "lora_A") and isinstance(module.lora_A, nn.ModuleDict)}


def test_bert_family_gets_its_attention_output_and_feed_forward_layers() -> None:
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=32), add_pooling_layer=False)
    assert default_targets(bert) == ["attention.output.dense", "intermediate.dense", "output.dense"]
    assert adapted(bert) == {f"encoder.layer.{i}.{m}" for i in range(2)
                             for m in ("attention.output.dense", "intermediate.dense", "output.dense")}


def test_scratch_encoder_gets_the_same_layers_under_its_own_names() -> None:
    scratch = ScratchModel(ScratchConfig(arch="encoder", vocab_size=50, d_model=16, n_layer=2, n_head=2))
    assert default_targets(scratch) == ["attn.out", "mlp.up", "mlp.down"]
    assert {name.rsplit("layers.", 1)[-1] for name in adapted(scratch)} == {
        f"{i}.{m}" for i in range(2) for m in ("attn.out", "mlp.up", "mlp.down")}


def test_unknown_names_ask_for_explicit_targets() -> None:
    other = nn.Sequential()
    other.add_module("q_proj", nn.Linear(4, 4))
    with pytest.raises(ConfigError, match="--lora-targets"):
        default_targets(other)
