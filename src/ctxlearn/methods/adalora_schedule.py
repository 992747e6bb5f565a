"""AdaLoRA's Trainer callback. peft needs two things a plain Trainer run does not give it, and this
supplies both: the length of the rank schedule (``total_step``, known only once the Trainer has counted
its steps) and a call to ``update_and_allocate`` after every optimizer step, while the gradients still
exist. It also keeps what peft holds outside the model with each checkpoint (the importance statistics
that decide which ranks to prune, and the rank pattern), so a resumed run prunes as an unbroken one."""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ctxlearn.errors import ConfigError
from ctxlearn.methods.adalora import AdaLoraOptions, active_config

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
        config, total = active_config(self.model), state.max_steps
        config.total_step = total
        config.tinit, config.tfinal = int(self.options.init_fraction * total), int(self.options.final_fraction * total)
        if state.global_step > 0:  # resumed
            self._load(_state_file(args, state), pruning=state.global_step < total - config.tfinal)
        if state.global_step >= total - config.tfinal and config.rank_pattern is None:
            # resumed after pruning ended: the pattern is where the checkpoint's singular values are non-zero
            config.rank_pattern = {n: (p != 0).view(-1).tolist() for n, p in self.tuner.model.named_parameters()
                                   if "lora_E" in n}

    def on_optimizer_step(self, args, state, control, **kw):  # noqa: ANN001
        config, step = active_config(self.model), state.global_step
        if step >= config.total_step - config.tfinal and not self.tuner.rankallocator.ipt:
            self._mask()  # no importance scores (resumed late): keep the pattern fixed, as peft does after pruning
        else:
            self.tuner.update_and_allocate(step)

    def on_train_end(self, args, state, control, **kw):  # noqa: ANN001
        self._mask()

    def on_save(self, args, state, control, **kw):  # noqa: ANN001
        if state.is_world_process_zero:
            allocator, pattern = self.tuner.rankallocator, active_config(self.model).rank_pattern or {}
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
        active_config(self.model).rank_pattern = pattern or None

    def _mask(self) -> None:
        if active_config(self.model).rank_pattern:
            self.tuner.rankallocator.mask_using_rank_pattern(self.tuner.model, active_config(self.model).rank_pattern)
