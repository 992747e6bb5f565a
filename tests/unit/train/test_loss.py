"""The training loss handed to the Trainer: label smoothing and class weights, each checked against
its definition written out, and the balanced rule against scikit-learn's; the prior head bias against
the loss it should minimise."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from ctxlearn.train.loss import class_weights, prior_logits, training_loss


def _by_definition(logits: torch.Tensor, labels: torch.Tensor, smoothing: float,
                   weights: torch.Tensor | None = None) -> torch.Tensor:
    """Over the kept rows i: (sum_i -(1 - s) w_yi log p_iyi - s/C sum_c w_c log p_ic) / sum_i w_yi, torch's
    weighted mean (its smoothing term weighs each class's log-probability by that class's weight)."""
    logp = logits.log_softmax(-1).flatten(0, -2)
    labels = labels.flatten()
    kept = labels != -100
    logp, labels = logp[kept], labels[kept]
    w = torch.ones(logits.shape[-1]) if weights is None else weights
    nll = -logp[torch.arange(len(labels)), labels] * w[labels]
    smooth = -(logp * w).mean(-1)
    return ((1 - smoothing) * nll.sum() + smoothing * smooth.sum()) / w[labels].sum()


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3)])  # a classifier's (B, C), a tagger's (B, T, C)
def test_smoothed_loss_follows_the_definition_and_skips_ignored_positions(shape: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, generator=gen)
    labels = torch.randint(0, 3, shape[:-1], generator=gen)
    labels.view(-1)[1] = -100
    got = training_loss(0.2, None)({"logits": logits}, labels)
    assert got.item() == pytest.approx(_by_definition(logits, labels, 0.2).item(), rel=1e-5)
    assert got.item() != pytest.approx(_by_definition(logits, labels, 0.0).item(), rel=1e-3)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(6, 3), (2, 5, 3)])
def test_weighted_loss_follows_the_definition(shape: tuple[int, ...], smoothing: float) -> None:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(shape, generator=gen)
    labels = torch.randint(0, 3, shape[:-1], generator=gen)
    labels.view(-1)[0] = -100
    weights = torch.tensor([0.5, 3.0, 1.25])
    got = training_loss(smoothing, weights)({"logits": logits}, labels)
    assert got.item() == pytest.approx(_by_definition(logits, labels, smoothing, weights).item(), rel=1e-5)
    assert got.item() != pytest.approx(_by_definition(logits, labels, smoothing).item(), rel=1e-3)


def test_no_smoothing_and_no_weights_leave_the_models_own_loss() -> None:
    assert training_loss(0.0, None) is None


def test_balanced_weights_are_scikit_learns_and_an_absent_class_keeps_1() -> None:
    targets = np.array([0] * 12 + [1] * 3 + [3] * 1)  # class 2 never occurs (a tag no training word has)
    got = class_weights("balanced", targets, 4).numpy()
    present = np.array([0, 1, 3])
    expected = compute_class_weight("balanced", classes=present, y=targets)
    np.testing.assert_allclose(got[present], expected, rtol=1e-6)
    assert got[2] == 1.0
    assert (got[present] * np.bincount(targets)[present]).std() < 1e-4  # each present class weighs the same in total
    assert class_weights("none", targets, 4) is None


def _constant_loss(logits: torch.Tensor, targets: np.ndarray, smoothing: float, weights: torch.Tensor | None) -> torch.Tensor:
    """The training loss of predicting ``logits`` (C,) for every row."""
    labels = torch.as_tensor(targets)
    rows = logits.expand(len(labels), -1)
    loss = training_loss(smoothing, weights)
    return loss({"logits": rows}, labels) if loss else torch.nn.functional.cross_entropy(rows, labels)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("rule", ["none", "balanced"])
def test_prior_logits_are_the_best_constant_prediction_under_the_training_loss(rule: str, smoothing: float) -> None:
    targets = np.array([0] * 30 + [1] * 5 + [2] * 1)
    weights = class_weights(rule, targets, 3)
    logits = prior_logits(targets, 3, weights, smoothing).requires_grad_()
    loss = _constant_loss(logits, targets, smoothing, weights)
    loss.backward()
    assert logits.grad.abs().max().item() < 1e-6  # a stationary point of a convex loss: its minimum
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        moved = logits.detach() + 0.05 * torch.randn(3, generator=gen)
        assert _constant_loss(moved, targets, smoothing, weights).item() > loss.item()
    if rule == "none" and not smoothing:
        assert logits.softmax(-1).tolist() == pytest.approx([30 / 36, 5 / 36, 1 / 36])
    if rule == "balanced" and not smoothing:
        assert logits.softmax(-1).tolist() == pytest.approx([1 / 3] * 3)


def test_a_class_no_row_has_gets_a_finite_lowest_prior() -> None:
    got = prior_logits(np.array([0] * 12 + [1] * 3), 3, None, 0.0)
    assert torch.isfinite(got).all() and got[2] < got[1] < got[0]
