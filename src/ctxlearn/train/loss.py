"""The training loss, where it is not the model's own cross-entropy: label smoothing and class weights;
and the head bias that starts training at that loss's best constant prediction.

Both go to the Trainer as ``compute_loss_func``; transformers' own label smoother needs a ``config`` on
the model, which ctxlearn's heads do not have, and it has no class weights. A method's regulariser
(AdaLoRA's) joins whichever loss is used through ``add_penalty``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ctxlearn.models.tagger import IGNORE


def class_weights(rule: str, targets: np.ndarray, n_classes: int) -> torch.Tensor | None:
    """(C,) loss weight of each class under ``rule``, from the training rows' label ids, or None for
    ``none``. ``balanced`` is scikit-learn's rule: n_rows / (k x rows of the class), over the k classes
    that occur, so every class carries the same total weight. A class no training row has is never a
    target, and keeps weight 1."""
    if rule == "none":
        return None
    counts = np.bincount(targets, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = len(targets) / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def prior_logits(targets: np.ndarray, n_classes: int, weights: torch.Tensor | None, smoothing: float) -> torch.Tensor:
    """(C,) logits of the constant prediction with the least training loss (``training_loss``'s, or plain
    cross-entropy): log p_c with p_c proportional to w_c ((1 - s) n_c + s N / C), for n_c of the N training
    rows in class c. Unweighted and unsmoothed that is each class's share of the rows; balanced weights
    make it uniform. A class no row has counts as one row, so its logit stays finite."""
    counts = np.bincount(targets, minlength=n_classes).astype(np.float64)
    counts[counts == 0] = 1.0
    w = np.ones(n_classes) if weights is None else weights.double().numpy()
    mass = w * ((1 - smoothing) * counts + smoothing * counts.sum() / n_classes)
    return torch.tensor(np.log(mass / mass.sum()), dtype=torch.float32)


PENALTY = "penalty"  # the attribute of a model output that holds a method's regulariser, when it has no loss yet


def add_penalty(output: Any, penalty: torch.Tensor) -> Any:
    """``output`` with ``penalty`` added to its loss; where it has none (the Trainer keeps the labels from the
    model when ``training_loss`` computes the loss), kept for that loss to add."""
    if output.loss is not None:
        output.loss = output.loss + penalty
    else:
        setattr(output, PENALTY, penalty)
    return output


def training_loss(smoothing: float, weights: torch.Tensor | None) -> Callable[..., torch.Tensor] | None:
    """Cross-entropy over every output row ((B, C) for a classifier, (B, T, C) for a tagger, whose -100
    positions are skipped), with ``smoothing`` of each target spread over all labels and each row
    weighted by its class (the mean is then over the rows' weights, as torch defines it), plus the penalty
    ``add_penalty`` kept; None when neither is asked for, so the model's own loss is used."""
    if not smoothing and weights is None:
        return None

    def loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        logits = outputs["logits"]
        w = weights.to(logits.device) if weights is not None else None
        ce = nn.functional.cross_entropy(logits.flatten(0, -2).float(), labels.flatten(), weight=w,
                                         ignore_index=IGNORE, label_smoothing=smoothing)
        penalty = getattr(outputs, PENALTY, None)
        return ce if penalty is None else ce + penalty

    return loss
