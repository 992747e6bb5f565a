"""Stopping a training run on Ctrl-C, SIGTERM or SIGHUP (a scheduler's preemption, a closed terminal) without
losing the steps since its last checkpoint: the step running ends, a checkpoint is saved at it, and the
run stops there, as --resume then continues it. A second signal stops at once, as before."""
from __future__ import annotations

import os
import signal
from contextlib import contextmanager, suppress
from typing import Any, Iterator

from transformers import TrainerCallback

from ctxlearn.errors import Interrupted
from ctxlearn.signals import ENDING_SIGNALS, handled
from ctxlearn.train import dist

STOP_SIGNALS = (signal.SIGINT, *ENDING_SIGNALS)


class Stopped(Interrupted):
    """A run stopped by ``signum``; ``step``: the step its last checkpoint was saved at (0: training had ended)."""

    def __init__(self, signum: int, step: int) -> None:
        super().__init__(signum)
        self.step = step


class StopAsked:
    """Set by a stop signal while ``listening``: ``asked`` is the signal, None until one comes. A training loop
    reads it after each step, saves a checkpoint and raises ``Stopped``."""

    asked: int | None = None


class StopAtStep(StopAsked, TrainerCallback):
    """Once ``asked``, the Trainer saves a checkpoint at the end of the step running and stops. The evaluation
    and save that the end of an epoch adds are skipped where the stop cut the epoch short: an unbroken run
    evaluates only at the epoch's true end, and so does the resumed one. Processes launched together agree
    after each step on whether any was asked (``dist.any_process``), so all stop and save at one step."""

    def __init__(self) -> None:
        self.cut_at = 0  # the step training was cut at (0: not cut)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if dist.any_process(self.asked is not None) and not control.should_training_stop:
            control.should_save = control.should_training_stop = True
            self.cut_at = state.global_step
            self.asked = self.asked or signal.SIGINT  # another process's signal: this one was asked through it
        return control

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.cut_at and not float(state.epoch).is_integer():  # the epoch was cut short
            control.should_evaluate = control.should_save = False
        return control


@contextmanager
def listening(stop: StopAsked) -> Iterator[None]:
    """While training, a stop signal asks ``stop`` to stop after the step running, then puts back the
    handlers there were, so that a second one stops at once (``signals.handled``: only in the main thread, and
    a signal the process ignores, such as a background job's Ctrl-C or nohup's SIGHUP, stays ignored). A
    launched process keeps listening: Ctrl-C reaches it from the terminal and again from its launcher, which
    passes the signal on, then ends the processes itself if they have not ended 30 s later."""
    launched = dist.launched()

    def ask(signum: int, frame: Any) -> None:
        first, stop.asked = stop.asked is None, stop.asked or signum
        if first and dist.is_main():  # os.write, not print, which may be mid-print to stderr; a closed terminal
            with suppress(OSError):
                os.write(2, b"\nctxlearn: stopping at the end of this step, once a checkpoint is saved there "
                            + (b"(the launcher ends the processes 30 s after the signal)\n" if launched else
                               b"(Ctrl-C again stops at once)\n"))

    with handled(STOP_SIGNALS, ask, once=not launched):
        yield
