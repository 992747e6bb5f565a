"""AdaLoRA through peft: LoRA in SVD form (P diag(E) Q) whose ranks are pruned during training, from
``init_r`` per matrix down to an average of ``target_r``, keeping the triplets that matter most.

peft needs two things a plain Trainer run does not give it, which its Trainer callback supplies
(``adalora_schedule``, imported when a run starts, so that listing the methods and their options
does not load the Trainer): the length of the rank schedule and a call to ``update_and_allocate``
after every optimizer step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ctxlearn.config import check_at_least, check_shares, opt
from ctxlearn.errors import ConfigError
from ctxlearn.methods.base import METHODS, Method, peft_model
from ctxlearn.train.loss import add_penalty


@dataclass
class AdaLoraOptions:
    init_r: int = opt(12, "rank each adapted matrix starts with")
    target_r: int = opt(8, "average rank left after pruning")
    alpha: int = opt(16, "scaling numerator, as in LoRA")
    dropout: float = opt(0.1, "dropout on the adapter input")
    targets: str = opt("query,key,value,attention.output.dense,intermediate.dense,output.dense",
                       "comma-separated module names to adapt")
    init_fraction: float = opt(0.1, "share of training steps before pruning starts")
    final_fraction: float = opt(0.4, "share of training steps at the end with the ranks fixed")
    interval: int = opt(10, "steps between two rank reallocations")
    orth_weight: float = opt(0.1, "weight of the regulariser that keeps P and Q orthogonal")

    def __post_init__(self) -> None:  # peft refused a dropout of 2 with a traceback
        check_at_least(self, {"alpha": 1, "orth_weight": 0})
        check_shares(self, ("dropout",), 0.1)
        first, last = self.init_fraction, self.final_fraction
        if not (first >= 0 and last >= 0 and first + last < 1):
            raise ConfigError(f"init_fraction ({first}) and final_fraction ({last}) must be >= 0 and sum to "
                              "less than 1, leaving steps in between for pruning", field="init_fraction")
        if not 0 < self.target_r < self.init_r:
            raise ConfigError(f"target_r must be at least 1 and below init_r ({self.init_r}), not {self.target_r}",
                              field="target_r")
        if self.interval < 1:
            raise ConfigError(f"interval must be >= 1 step, not {self.interval}", field="interval")


def prepare(model: nn.Module, options: AdaLoraOptions) -> nn.Module:
    from peft import AdaLoraConfig

    # total_step=1000 is a placeholder peft insists on: AdaLoraCallback sets the real schedule when training starts.
    config = AdaLoraConfig(init_r=options.init_r, target_r=options.target_r, lora_alpha=options.alpha,
                           lora_dropout=options.dropout, deltaT=options.interval, orth_reg_weight=options.orth_weight,
                           target_modules=[t.strip() for t in options.targets.split(",") if t.strip()], total_step=1000)
    model.backbone = peft_model(model.backbone, config, "--adalora-targets")
    model.register_forward_hook(_add_orthogonal_penalty)
    return model


def active_config(model: nn.Module) -> Any:
    """The peft AdaLoraConfig of the adapter being trained."""
    return model.backbone.peft_config[model.backbone.active_adapter]


def orthogonal_penalty(backbone: nn.Module) -> torch.Tensor:
    """Mean of ||P P^T - I||_F and ||Q^T Q - I||_F over the adapted matrices (AdaLoRA, eq. 4).

    peft adds this inside ``AdaLoraModel.forward`` only when the wrapped model returns a loss; our
    backbone is a bare encoder and the classifier computes the loss, so it is added here instead."""
    terms = []
    for name, p in backbone.named_parameters():
        if p.requires_grad and ("lora_A" in name or "lora_B" in name):
            cov = p @ p.T if "lora_A" in name else p.T @ p  # (r, r)
            terms.append(torch.linalg.matrix_norm(cov - torch.eye(cov.shape[0], device=p.device, dtype=p.dtype)))
    return torch.stack(terms).mean()


def _add_orthogonal_penalty(model: nn.Module, args: tuple, output):  # noqa: ANN001
    """In training, the regulariser joins the loss: the model's own, or the Trainer's loss function's (label
    smoothing, class weights), which dropped it when the model, given no labels, had no loss to add it to."""
    if model.training:
        return add_penalty(output, active_config(model).orth_reg_weight * orthogonal_penalty(model.backbone))
    return output


def callback(model: nn.Module, options: AdaLoraOptions) -> Any:
    """The Trainer callback that schedules, reallocates and keeps AdaLoRA's ranks (``adalora_schedule``)."""
    from ctxlearn.methods.adalora_schedule import AdaLoraCallback

    return AdaLoraCallback(model, options)


# Defaults: Zhang et al. (2023, AdaLoRA) on GLUE SST-2 (their run_glue script): all six weight matrices
# of each layer, lr 8e-4, orthogonal-regulariser weight 0.1, pruning from ~12% of the steps until the last
# ~44% (ti=6000, tf=22000 of ~50k). init_r 12 -> target_r 8 are peft's defaults (the paper starts at 1.5x
# the final budget). 6 epochs, since the paper's 24 are beyond our budgets; not yet measured on SST-2.
METHODS.register("adalora")(Method(
    name="adalora", help="peft AdaLoRA: LoRA whose per-matrix ranks are pruned to a budget while training",
    options=AdaLoraOptions, prepare=prepare, lr=8e-4, epochs=6,
    callbacks=lambda model, options: [callback(model, options)]))
