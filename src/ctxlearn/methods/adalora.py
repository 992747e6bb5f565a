"""AdaLoRA through peft: LoRA in SVD form (P diag(E) Q) whose ranks are pruned during training, from
``init_r`` per matrix down to an average of ``target_r``, keeping the triplets that matter most.

peft needs two things a plain Trainer run does not give it, and the callback here supplies both:
the length of the rank schedule (``total_step``, known only once the Trainer has counted its steps)
and a call to ``update_and_allocate`` after every optimizer step, while the gradients still exist.
It also keeps what peft holds outside the model with each checkpoint (the importance statistics
that decide which ranks to prune, and the rank pattern), so a resumed run prunes as an unbroken one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ctxlearn.config import opt
from ctxlearn.errors import ConfigError
from ctxlearn.methods.base import METHODS, Method


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


def prepare(model: nn.Module, options: AdaLoraOptions) -> nn.Module:
    from peft import AdaLoraConfig, get_peft_model

    first, last = options.init_fraction, options.final_fraction
    if not (first >= 0 and last >= 0 and first + last < 1):
        raise ConfigError(f"adalora: init_fraction ({first}) and final_fraction ({last}) must be >= 0 and sum to "
                          "less than 1, leaving steps in between for pruning")
    if not 0 < options.target_r < options.init_r:
        raise ConfigError(f"adalora: target_r must be at least 1 and below init_r ({options.init_r}), "
                          f"not {options.target_r}")
    if options.interval < 1:
        raise ConfigError(f"adalora: interval must be >= 1 step, not {options.interval}")
    # total_step=1000 is a placeholder peft insists on: AdaLoraCallback sets the real schedule when training starts.
    config = AdaLoraConfig(init_r=options.init_r, target_r=options.target_r, lora_alpha=options.alpha,
                           lora_dropout=options.dropout, deltaT=options.interval, orth_reg_weight=options.orth_weight,
                           target_modules=[t.strip() for t in options.targets.split(",") if t.strip()], total_step=1000)
    model.backbone = get_peft_model(model.backbone, config)
    model.register_forward_hook(_add_orthogonal_penalty)
    return model


def _config(model: nn.Module):
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
    if model.training and output.loss is not None:
        output.loss = output.loss + _config(model).orth_reg_weight * orthogonal_penalty(model.backbone)
    return output


STATS = ("ipt", "exp_avg_ipt", "exp_avg_unc")  # peft's RankAllocator: importance, and its two running means


def _state_file(args, state) -> Path:  # noqa: ANN001
    """Where the checkpoint of this step keeps AdaLoRA's state (the Trainer names its folders so)."""
    return Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}" / "adalora_state.safetensors"


class AdaLoraCallback(TrainerCallback):
    """Sets AdaLoRA's schedule from the Trainer's step count, reallocates ranks after each optimizer
    step, and at the end masks the model with the final rank pattern, so that the model evaluated and
    the pruned adapter ``save_pretrained`` writes are the same (the best checkpoint, which the Trainer
    reloads, may predate the last reallocation)."""

    def __init__(self, model: nn.Module, options: AdaLoraOptions) -> None:
        self.model, self.options = model, options

    @property
    def tuner(self) -> nn.Module:  # peft's AdaLoraModel
        return self.model.backbone.base_model

    def on_train_begin(self, args, state, control, **kw):  # noqa: ANN001
        config, total = _config(self.model), state.max_steps
        config.total_step = total
        config.tinit, config.tfinal = int(self.options.init_fraction * total), int(self.options.final_fraction * total)
        if state.global_step > 0:  # resumed
            self._load(_state_file(args, state), pruning=state.global_step < total - config.tfinal)
        if state.global_step >= total - config.tfinal and config.rank_pattern is None:
            # resumed after pruning ended: the pattern is where the checkpoint's singular values are non-zero
            config.rank_pattern = {n: (p != 0).view(-1).tolist() for n, p in self.tuner.model.named_parameters()
                                   if "lora_E" in n}

    def on_optimizer_step(self, args, state, control, **kw):  # noqa: ANN001
        config, step = _config(self.model), state.global_step
        if step >= config.total_step - config.tfinal and not self.tuner.rankallocator.ipt:
            self._mask()  # no importance scores (resumed late): keep the pattern fixed, as peft does after pruning
        else:
            self.tuner.update_and_allocate(step)

    def on_train_end(self, args, state, control, **kw):  # noqa: ANN001
        self._mask()

    def on_save(self, args, state, control, **kw):  # noqa: ANN001
        if state.is_world_process_zero:
            allocator, pattern = self.tuner.rankallocator, _config(self.model).rank_pattern or {}
            stats = {f"{kind}/{n}": t.contiguous() for kind in STATS for n, t in getattr(allocator, kind).items()}
            save_file({**stats, **{f"rank_pattern/{n}": torch.tensor(keep) for n, keep in pattern.items()}},
                      str(_state_file(args, state)))

    def _load(self, path: Path, pruning: bool) -> None:
        if not path.is_file():
            if pruning:  # importance restarting from zero would prune other ranks than the unbroken run
                raise ConfigError(f"--resume: {path} is missing, and AdaLoRA needs its importance statistics to go on "
                                  "pruning as the interrupted run would have; rerun without --resume to start over")
            return
        tensors = load_file(str(path), device=str(next(self.model.parameters()).device))
        allocator = self.tuner.rankallocator
        for kind in STATS:
            setattr(allocator, kind, {n.split("/", 1)[1]: t for n, t in tensors.items() if n.startswith(f"{kind}/")})
        pattern = {n.split("/", 1)[1]: t.tolist() for n, t in tensors.items() if n.startswith("rank_pattern/")}
        _config(self.model).rank_pattern = pattern or None

    def _mask(self) -> None:
        if _config(self.model).rank_pattern:
            self.tuner.rankallocator.mask_using_rank_pattern(self.tuner.model, _config(self.model).rank_pattern)


# Defaults: Zhang et al. (2023, AdaLoRA) on GLUE SST-2 (their run_glue script): all six weight matrices
# of each layer, lr 8e-4, orthogonal-regulariser weight 0.1, pruning from ~12% of the steps until the last
# ~44% (ti=6000, tf=22000 of ~50k). init_r 12 -> target_r 8 are peft's defaults (the paper starts at 1.5x
# the final budget). 6 epochs, since the paper's 24 are beyond our budgets; not yet measured on SST-2.
METHODS.register("adalora")(Method(
    name="adalora", help="peft AdaLoRA: LoRA whose per-matrix ranks are pruned to a budget while training",
    options=AdaLoraOptions, prepare=prepare, lr=8e-4, epochs=6,
    callbacks=lambda model, options: [AdaLoraCallback(model, options)]))
