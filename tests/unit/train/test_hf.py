"""The Trainer path: the step clock (steady training speed leaves out the first step and any interval
holding an evaluation or a checkpoint save), per-parameter learning-rate multiples (LoRA+), and the
batches an estimate measures."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from transformers import TrainingArguments

from ctxlearn.methods import METHODS
from ctxlearn.methods.lora import LoraOptions
from ctxlearn.train import hf
from ctxlearn.train.hf import GradNormWatch, LogLines, ScaledTrainer, StepClock, _stats, scaled_groups


def _tick(clock: StepClock, first: int, last: int) -> None:
    for step in range(first, last + 1):
        clock.on_step_end(None, SimpleNamespace(global_step=step, num_input_tokens_seen=100 * step), None)


def test_step_clock_leaves_out_the_first_step() -> None:
    clock = StepClock()
    _tick(clock, 1, 6)
    assert clock.steps == 5 and clock.seconds > 0


def test_step_clock_leaves_out_intervals_with_an_evaluation_or_a_save() -> None:
    clock = StepClock()
    _tick(clock, 1, 3)
    clock.on_evaluate(None, None, None)
    _tick(clock, 4, 4)
    clock.on_save(None, None, None)
    _tick(clock, 5, 6)
    assert clock.steps == 3  # 1->2, 2->3 and 5->6
    assert [n for _, n in clock.timed] == [100, 100, 100] and clock.save_seconds > 0


def test_scaled_groups_split_each_group_by_its_multiple() -> None:
    a, b, c = (nn.Parameter(torch.zeros(2)) for _ in range(3))
    names = {id(a): "x.lora_A.w", id(b): "x.lora_B.w", id(c): "head.bias"}
    groups = [{"params": [a, b], "lr": 1e-3, "weight_decay": 0.01}, {"params": [c], "lr": 1e-3, "weight_decay": 0.0}]
    out = scaled_groups(groups, names, lambda n: 16.0 if ".lora_B." in n else 1.0)
    got = sorted((names[id(g["params"][0])], len(g["params"]), g["lr"], g["weight_decay"]) for g in out)
    assert got == [("head.bias", 1, 1e-3, 0.0), ("x.lora_A.w", 1, 1e-3, 0.01), ("x.lora_B.w", 1, pytest.approx(1.6e-2), 0.01)]


def test_lora_plus_trains_b_at_the_ratio_and_the_rest_at_the_rate(tmp_path) -> None:
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)), LoraConfig(r=2, target_modules=["0"]))
    scale = METHODS.get("lora").lr_scale(model, LoraOptions(plus_ratio=16.0))
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, use_cpu=True, report_to=[])
    optimizer = ScaledTrainer(model=model, args=args, lr_scale=scale).create_optimizer()
    names = {id(p): n for n, p in model.named_parameters()}
    lrs = {names[id(p)]: g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert lrs and all(lr == pytest.approx(1.6e-2 if ".lora_B." in n else 1e-3) for n, lr in lrs.items()), lrs
    assert any(".lora_B." in n for n in lrs) and set(lrs) == {n for n, p in model.named_parameters() if p.requires_grad}
    assert METHODS.get("lora").lr_scale(model, LoraOptions()) is None  # off by default: the Trainer's optimizer as it is


def test_spread_batches_span_the_lengths_longest_first() -> None:
    from ctxlearn.train.encode import Encoded
    from ctxlearn.train.hf import spread

    rows = [{"input_ids": [1] * n} for n in range(1, 101)]  # lengths 1..100, 25 batches of 4
    picked = [len(r["input_ids"]) for r in spread(Encoded(rows), 4, 5).rows]
    batches = [picked[i:i + 4] for i in range(0, len(picked), 4)]
    assert batches[0] == [100, 99, 98, 97] and len(batches) == 5  # the longest first, as the sampler starts
    assert sorted(b[0] for b in batches) == [4, 28, 52, 76, 100]  # evenly spaced from the shortest to the longest
    assert all(b == sorted(b, reverse=True) and b[0] - b[-1] == 3 for b in batches)  # each of near-equal length
    assert len(spread(Encoded(rows), 4, 100)) == 100  # fewer batches than steps: every row once


def test_spread_batches_after_the_first_come_in_a_seeded_random_order() -> None:
    from ctxlearn.train.encode import Encoded
    from ctxlearn.train.hf import spread

    rows = [{"input_ids": [1] * n} for n in range(1, 401)]
    firsts = [[len(spread(Encoded(rows), 4, 20, seed).rows[i]["input_ids"]) for i in range(0, 80, 4)] for seed in (0, 0, 1)]
    assert firsts[0] == firsts[1] != firsts[2]
    assert firsts[0][1:] != sorted(firsts[0][1:], reverse=True)  # sizes go up and down, as in an epoch


class _Overflowing(nn.Module):
    """A finite gradient of 2e20 per weight, whose squares overflow float32: the norm is inf on every step (as
    MiniLM's top LayerNorm gave under a probe head with weights of 1e9 and more)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": ((self.w * 1e10) ** 2).sum() + 0 * x.sum()}


def test_a_gradient_norm_that_overflows_is_warned_once_and_counted(tmp_path, capsys) -> None:
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, logging_steps=1, use_cpu=True, report_to=[],
                             save_strategy="no", max_grad_norm=1.0)
    trainer = ScaledTrainer(model=_Overflowing(), args=args, train_dataset=[{"x": torch.ones(2)}] * 8,
                            callbacks=[GradNormWatch()])
    trainer.train()
    err = capsys.readouterr().err
    assert err.count("the gradient norm is inf at step 1") == 1 and err.count("gradient norm is") == 1
    assert _stats(trainer, StepClock(), 0.0, "accuracy")["grad_norm_not_finite"] == 3
    assert torch.equal(trainer.model.w.detach(), torch.ones(3))  # clipping by max_norm / inf left nothing to learn


def test_finite_gradient_norms_raise_no_warning(capsys) -> None:
    watch = GradNormWatch()
    for step, norm in enumerate([2.5, 0.1, 40.0], start=1):
        watch.on_log(None, SimpleNamespace(global_step=step), None, logs={"grad_norm": norm, "loss": 0.3})
    watch.on_log(None, SimpleNamespace(global_step=4), None, logs={"eval_loss": 0.2})
    assert "gradient norm" not in capsys.readouterr().err and not watch.warned


def test_log_lines_give_step_loss_eta_and_dev_scores(monkeypatch, capsys) -> None:
    now = [100.0]
    monkeypatch.setattr(hf, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    lines = LogLines()
    lines.on_train_begin(None, SimpleNamespace(global_step=20), None)  # a resumed session starts at step 20
    now[0] += 30.0
    lines.on_log(None, SimpleNamespace(global_step=30, max_steps=120, epoch=0.75), None,
                 logs={"loss": 0.41234, "grad_norm": 2.0, "learning_rate": 1e-5})
    lines.on_log(None, SimpleNamespace(global_step=40, max_steps=120, epoch=1.0), None,
                 logs={"eval_loss": 0.3, "eval_accuracy": 0.875, "eval_runtime": 1.5, "epoch": 1.0})
    lines.on_log(None, SimpleNamespace(global_step=120, max_steps=120, epoch=3.0), None, logs={"train_loss": 0.2})
    assert capsys.readouterr().err.splitlines() == [
        "[ctxlearn] step 30/120 (epoch 0.75): loss 0.4123, 30 s so far, ETA 4.5 min",  # 3 s a step, 90 steps to go
        "[ctxlearn] epoch 1 dev accuracy 0.8750"]


class _WithSpare(nn.Module):
    """A toy classifier with one trainable layer its forward never calls."""

    def __init__(self) -> None:
        super().__init__()
        self.used, self.spare, self.frozen_spare = nn.Linear(4, 2), nn.Linear(4, 2), nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)
        self.frozen_spare.requires_grad_(False)

    def forward(self, x: torch.Tensor, labels: torch.Tensor, **_: object) -> SimpleNamespace:
        return SimpleNamespace(loss=nn.functional.cross_entropy(self.used(self.drop(x)), labels))


def _collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    return {"x": torch.stack([r["x"] for r in rows]), "labels": torch.tensor([r["labels"] for r in rows])}


def test_unused_trainable_names_only_trainable_weights_the_step_skips_and_leaves_no_trace() -> None:
    model = _WithSpare()
    rows = [{"x": torch.randn(4), "labels": i % 2} for i in range(2)]
    torch.manual_seed(3)
    expected_next = torch.rand(3)
    torch.manual_seed(3)
    assert hf.unused_trainable(model, rows, _collate) == ["spare.weight", "spare.bias"]
    assert torch.equal(torch.rand(3), expected_next)  # dropout's draws did not move the training's RNG
    assert all(p.grad is None for p in model.parameters())  # the step's gradients are not carried into training
    model.spare = nn.Identity()
    assert hf.unused_trainable(model, rows, _collate) == []


def test_how_often_dev_is_scored_leaves_the_training_as_it_was(tiny_bert, toy_data, tmp_path) -> None:
    """Each evaluation's data loader drew a seed from the global generator, moving every later dropout mask:
    two runs that differed only in --evals-per-epoch trained apart after the first evaluation."""
    from ctxlearn.config import TrainConfig
    from ctxlearn.train.run import run_training

    curves = []
    for evals in (4.0, 1.0):
        out = tmp_path / f"run-{evals}"
        run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method="full", out=str(out), bf16="off",
                                 epochs=1, batch_size=16, lr=3e-3, patience=0, evals_per_epoch=evals, seed=1))
        curves.append(json.loads((out / "manifest.json").read_text())["training"]["loss_curve"])
    assert len(curves[0]) >= 3 and curves[0] == curves[1]


def test_full_training_clips_the_word_table_at_the_rows_each_step_wrote(tiny_bert, toy_data, tmp_path,
                                                                          monkeypatch) -> None:
    """The Trainer's clipping goes through ``clip_grad_norm``, which reads a kept-gradient table at its written
    rows (models/embedding.py): None from it would mean the dense table was read and rescaled every step."""
    from ctxlearn.config import TrainConfig
    from ctxlearn.models.embedding import clip_grad_norm
    from ctxlearn.train.run import run_training

    totals = []

    def recorded(model: nn.Module, max_norm: float) -> torch.Tensor | None:
        totals.append(clip_grad_norm(model, max_norm))
        return totals[-1]

    with monkeypatch.context() as patch:
        patch.setattr(hf, "clip_grad_norm", recorded)
        run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method="full", out=str(tmp_path / "run"),
                                 bf16="off", epochs=1, batch_size=16, patience=0))
    assert len(totals) >= 2 and all(t is not None and torch.isfinite(t) for t in totals)
