"""AdaLoRA's Trainer callback: the schedule comes from the Trainer's step count, and a run resumed
after pruning ended keeps the pruned ranks."""
from __future__ import annotations

from types import SimpleNamespace

import torch
from transformers import BertConfig, BertModel

from ctxlearn.methods import METHODS
from ctxlearn.methods.adalora import AdaLoraCallback, AdaLoraOptions, orthogonal_penalty
from ctxlearn.models.classifier import EncoderClassifier


def tiny_adalora() -> tuple[EncoderClassifier, AdaLoraCallback]:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    method, options = METHODS.get("adalora"), AdaLoraOptions()
    model = method.prepare(EncoderClassifier(BertModel(config, add_pooling_layer=False), 2), options)
    (callback,) = method.callbacks(model, options)
    return model, callback


def singular_values(model: EncoderClassifier) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.backbone.base_model.model.named_parameters() if "lora_E" in n}


def test_schedule_follows_the_trainer() -> None:
    model, callback = tiny_adalora()
    callback.on_train_begin(None, SimpleNamespace(max_steps=200, global_step=0), None)
    config = model.backbone.peft_config["default"]
    assert (config.total_step, config.tinit, config.tfinal) == (200, 20, 80)


def test_resumed_after_pruning_keeps_the_pattern() -> None:
    model, callback = tiny_adalora()
    values = singular_values(model)
    with torch.no_grad():
        for p in values.values():
            p.uniform_(0.5, 1.0)
            p[::3] = 0.0  # pruned in the checkpoint
    callback.on_train_begin(None, SimpleNamespace(max_steps=100, global_step=70), None)
    with torch.no_grad():
        for p in values.values():
            p.add_(0.1)  # an optimizer step regrows them
    callback.on_optimizer_step(None, SimpleNamespace(global_step=70), None)
    for p in values.values():
        assert (p[::3] == 0).all() and (p[1::3] != 0).all()


def test_orthogonal_penalty_is_added_while_training() -> None:
    model, _ = tiny_adalora()
    for m in model.modules():  # without dropout, training and eval forwards differ only by the penalty
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    batch = {"input_ids": torch.randint(5, 40, (2, 6)), "attention_mask": torch.ones(2, 6, dtype=torch.long),
             "labels": torch.tensor([0, 1])}
    eval_loss, train_loss = model.eval()(**batch).loss, model.train()(**batch).loss
    penalty = orthogonal_penalty(model.backbone)
    assert penalty > 0
    torch.testing.assert_close(train_loss, eval_loss + 0.1 * penalty)
