"""AdaLoRA's Trainer callback: the schedule comes from the Trainer's step count, a run resumed
after pruning ended keeps the pruned ranks, and one resumed while pruning prunes as an unbroken run."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from ctxlearn.config import TrainConfig
from ctxlearn.errors import ConfigError
from ctxlearn.methods import METHODS
from ctxlearn.methods.adalora import AdaLoraOptions, orthogonal_penalty
from ctxlearn.methods.adalora_schedule import AdaLoraCallback
from ctxlearn.models.classifier import EncoderClassifier
from ctxlearn.train.run import run_training


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


def test_resumed_after_pruning_keeps_the_pattern(tmp_path: Path) -> None:
    model, callback = tiny_adalora()
    values = singular_values(model)
    with torch.no_grad():
        for p in values.values():
            p.uniform_(0.5, 1.0)
            p[::3] = 0.0  # pruned in the checkpoint
    callback.on_train_begin(SimpleNamespace(output_dir=str(tmp_path)), SimpleNamespace(max_steps=100, global_step=70), None)
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


@pytest.mark.parametrize("smoothing, weights", [(0.1, None), (0.0, torch.tensor([1.0, 3.0]))])
def test_orthogonal_penalty_joins_the_trainers_own_loss(smoothing, weights) -> None:
    """With --label-smoothing or --class-weights the Trainer keeps the labels from the model and computes the
    loss itself, so the model had no loss to add the penalty to: --adalora-orth-weight changed nothing."""
    from ctxlearn.train.loss import training_loss

    model, _ = tiny_adalora()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    batch = {"input_ids": torch.randint(5, 40, (2, 6)), "attention_mask": torch.ones(2, 6, dtype=torch.long)}
    labels, loss = torch.tensor([0, 1]), training_loss(smoothing, weights)
    eval_loss, train_loss = (loss(model.train(mode)(**batch), labels) for mode in (False, True))
    torch.testing.assert_close(train_loss, eval_loss + 0.1 * orthogonal_penalty(model.backbone))


def _pruned(run: Path) -> tuple[dict, np.ndarray]:
    """(rank pattern of the saved adapter, test probabilities) of a run folder."""
    pattern = json.loads((run / "adapter" / "adapter_config.json").read_text())["rank_pattern"]
    probs = [json.loads(l)["probs"] for l in (run / "test_predictions.jsonl").read_text().splitlines()]
    return pattern, np.array(probs)


@pytest.mark.filterwarnings("ignore:Adapter 'default'.*invalid shape")  # matrices this budget prunes to rank 0
def test_resumed_while_pruning_prunes_as_an_unbroken_run(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                        monkeypatch) -> None:
    # 40 steps: ranks reallocated every step from step 5 to 31, the run killed after step 10's checkpoint.
    # (Restarted from zero, the statistics of this tiny run end in another pattern.)
    options = {"init_r": 6, "target_r": 2, "interval": 1, "final_fraction": 0.2}
    common = dict(data=str(toy_data), model=str(tiny_bert), method="adalora", epochs=4, batch_size=16, patience=0,
                  bf16="off", seed=3, method_options={"adalora": options})
    run_training(TrainConfig(out=str(tmp_path / "ref"), **common))
    original = AdaLoraCallback.on_save

    def save_then_die(self, args, state, control, **kw):
        original(self, args, state, control, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(AdaLoraCallback, "on_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_training(TrainConfig(out=str(tmp_path / "run"), **common))
    monkeypatch.undo()
    shutil.copytree(tmp_path / "run.partial", tmp_path / "bare.partial")
    run_training(TrainConfig(out=str(tmp_path / "run"), resume=True, **common))
    pattern, probs = _pruned(tmp_path / "run")
    ref_pattern, ref_probs = _pruned(tmp_path / "ref")
    assert pattern == ref_pattern
    np.testing.assert_allclose(probs, ref_probs, rtol=0, atol=1e-6)

    (tmp_path / "bare.partial" / "checkpoint-10" / "adalora_state.safetensors").unlink()
    with pytest.raises(ConfigError, match="adalora_state.safetensors is missing"):
        run_training(TrainConfig(out=str(tmp_path / "bare"), resume=True, **common))


def test_the_method_registry_loads_without_the_trainer():
    """`ctxlearn train --help` took 4.9 s, 2.5 s of it adalora's import of the Trainer (and peft with it)."""
    import subprocess
    import sys

    code = ("import sys, ctxlearn.methods\n"
            "print(sorted(m for m in ('transformers.trainer_utils', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
