"""Method options a method cannot run with are refused with the flag and what is wrong, before a model
loads where the value alone says so, and where the backbone does (targets that match none of its
modules) when the method is prepared; they were tracebacks from inside peft or re."""
from __future__ import annotations

import re

import pytest
from transformers import BertConfig, BertModel

from ctxlearn.config import TrainConfig
from ctxlearn.errors import ConfigError
from ctxlearn.methods import METHODS
from ctxlearn.models.classifier import EncoderClassifier
from ctxlearn.train.run import check_method_options


@pytest.mark.parametrize("method, options, message", [
    ("lora", {"r": 0}, "--lora-r: r must be >= 1, not 0"),
    ("lora", {"alpha": 0}, "--lora-alpha: alpha must be >= 1, not 0"),
    ("lora", {"dropout": 1.0}, "--lora-dropout: dropout must be in [0, 1), e.g. 0.1, not 1.0"),
    ("lora", {"plus_ratio": -1.0}, "--lora-plus-ratio: plus_ratio must be >= 0, not -1.0"),
    ("adalora", {"dropout": 2.0}, "--adalora-dropout: dropout must be in [0, 1), e.g. 0.1, not 2.0"),
    ("adalora", {"orth_weight": -0.1}, "--adalora-orth-weight: orth_weight must be >= 0, not -0.1"),
    ("ia3", {"targets": "["}, "--ia3-targets: targets '[' is not a regular expression (unterminated character set"),
    ("ia3", {"feedforward": "(a"}, "--ia3-feedforward: feedforward '(a' is not a regular expression (missing ), "),
    ("adapter", {"targets": "*"}, "--adapter-targets: targets '*' is not a regular expression (nothing to repeat"),
    ("adalora", {"init_fraction": 0.7}, "--adalora-init-fraction: init_fraction (0.7) and final_fraction (0.4) must be "
                                        ">= 0 and sum to less than 1"),
    ("adalora", {"target_r": 12}, "--adalora-target-r: target_r must be at least 1 and below init_r (12), not 12"),
    ("adalora", {"interval": 0}, "--adalora-interval: interval must be >= 1 step, not 0"),
    ("adapter", {"size": 0}, "--adapter-size: size must be >= 1, not 0"),
    ("prefix", {"virtual_tokens": 0}, "--prefix-virtual-tokens: virtual_tokens must be >= 1, not 0"),
    ("prefix", {"projection": -1}, "--prefix-projection: projection must be >= 0, not -1"),
    ("prompt", {"init": "zeros"}, "--prompt-init: init must be sample_vocab or random, not 'zeros'"),
    ("prompt", {"virtual_tokens": 0}, "--prompt-virtual-tokens: virtual_tokens must be >= 1, not 0"),
    ("full", {"layer_decay": 1.5}, "--full-layer-decay: layer_decay must be a factor in (0, 1], e.g. 0.8 (1.0 turns it "
                                   "off), not 1.5"),
    ("head", {"c_grid": "0.1,x"}, "--head-c-grid: c_grid '0.1,x': give comma-separated numbers above 0, e.g. 0.1,1,10"),
    ("head", {"c_grid": "0,1"}, "--head-c-grid: c_grid '0,1': give comma-separated numbers above 0"),
    ("topk", {"k": 0}, "--topk-k: k must be >= 1, not 0"),
])
def test_an_option_out_of_range_is_refused_before_the_model_loads(method: str, options: dict, message: str) -> None:
    cfg = TrainConfig(data="d.csv", method=method, method_options={method: options})
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_method_options(cfg, METHODS.get(method))
    check_method_options(TrainConfig(data="d.csv", method=method), METHODS.get(method))  # the defaults pass


def test_ia3_feedforward_modules_outside_the_targets_are_refused() -> None:
    """peft rescales targets only: --ia3-feedforward '.*attention.output.dense' changed nothing, not even the
    trainable parameter count."""
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=32), add_pooling_layer=False)
    spec = METHODS.get("ia3")
    with pytest.raises(ConfigError, match=re.escape(
            r"--ia3-feedforward .*attention\.output\.dense: matches encoder.layer.0.attention.output.dense and 1 more, "
            "which --ia3-targets does not")):
        spec.prepare(EncoderClassifier(bert, 2), spec.options(feedforward=r".*attention\.output\.dense"))
    spec.prepare(EncoderClassifier(bert, 2), spec.options())  # the defaults are targets


@pytest.mark.parametrize("method, flag", [("lora", "--lora-targets"), ("adalora", "--adalora-targets"),
                                          ("ia3", "--ia3-targets")])
def test_targets_that_match_no_module_name_the_backbones_own_linear_layers(method: str, flag: str) -> None:
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=32), add_pooling_layer=False)
    spec = METHODS.get(method)
    options = spec.options(targets="nosuch")
    with pytest.raises(ConfigError, match=re.escape(
            f"{flag} nosuch: matches no module of BertModel; name some of its linear layers, e.g. attention.self.query, "
            "attention.self.key, attention.self.value, attention.output.dense")):
        spec.prepare(EncoderClassifier(bert, 2), options)


def test_topk_k_past_the_backbones_layers_names_the_flag_and_the_layer_count() -> None:
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=32), add_pooling_layer=False)
    spec = METHODS.get("topk")
    with pytest.raises(ConfigError, match=re.escape("--topk-k (method_options topk: k) must be at most 2, the "
                                                    "backbone's layers, not 3")):
        spec.prepare(EncoderClassifier(bert, 2), spec.options(k=3))
