"""The Trainer path's step clock: steady training speed leaves out the first step and any interval
holding an evaluation or a checkpoint save."""
from __future__ import annotations

from types import SimpleNamespace

from ctxlearn.train.hf import StepClock


def _tick(clock: StepClock, first: int, last: int) -> None:
    for step in range(first, last + 1):
        clock.on_step_end(None, SimpleNamespace(global_step=step), None)


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
