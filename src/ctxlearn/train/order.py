"""The order of an epoch's batches, kept with each checkpoint so that a run resumed part-way through an epoch
trains on the rest of the order the unbroken run trained on.

Why: the Trainer's length-grouped sampler draws each epoch's order from torch's global RNG. Resumed mid-epoch,
the Trainer draws it before it puts back the checkpoint's RNG state, so the order came from the state the run
started with. In the first epoch that is the same state, and the order matched; from the second on it was
another order, and the resumed run ended elsewhere (SST-2, `full` on 800 examples, stopped at step 32 of 50:
81.16% against 80.94% test accuracy). The RNG state each epoch's order was drawn from is saved beside the
checkpoint's own RNG state, and the resumed epoch draws from it again. An unbroken run draws as before."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import torch
from torch.utils.data import Sampler
from transformers import TrainerCallback

ORDER_FILE = "epoch_order_rng.pt"  # in each checkpoint folder


class EpochOrder(TrainerCallback):
    """Wraps the Trainer's sampler (``wrap``), noting the global RNG state each epoch's order is drawn from,
    and saves the latest with each checkpoint; ``resume`` makes the next epoch drawn (the resumed
    one) draw from the state saved with the checkpoint it resumes from instead."""

    def __init__(self) -> None:
        self.drawn_from: torch.Tensor | None = None
        self.resume_from: torch.Tensor | None = None

    def wrap(self, sampler: Sampler | None) -> Sampler | None:
        return None if sampler is None else _Drawn(sampler, self)

    def resume(self, checkpoint: Path) -> None:
        """Where ``checkpoint`` was saved mid-epoch (its epoch is not a whole number) by a run that kept the state
        (older ones did not). At an epoch's end the Trainer puts back the RNG state before the next order."""
        epoch = json.loads((checkpoint / "trainer_state.json").read_text()).get("epoch") or 0.0
        if not float(epoch).is_integer() and (checkpoint / ORDER_FILE).is_file():
            self.resume_from = torch.load(checkpoint / ORDER_FILE, weights_only=True)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.drawn_from is not None and state.is_world_process_zero:
            torch.save(self.drawn_from, Path(args.output_dir) / f"checkpoint-{state.global_step}" / ORDER_FILE)
        return control


class _Drawn(Sampler):
    """``inner`` (a sampler whose ``generator`` it draws its order from; None: the global RNG) for ``order``."""

    def __init__(self, inner: Sampler, order: EpochOrder) -> None:
        self.inner, self.order = inner, order

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[int]:
        resume_from, self.order.resume_from = self.order.resume_from, None
        if resume_from is None:  # as before: the global RNG, as it stands
            self.order.drawn_from = torch.get_rng_state()
            self.inner.generator = None
        else:  # the Trainer puts back the global state itself, after the first batch
            self.order.drawn_from = resume_from
            self.inner.generator = torch.Generator().set_state(resume_from)
        return iter(list(self.inner))
