"""Handling signals while a block runs: put back after, at the first signal with ``once``, and never over an
ignored signal or, with ``only_default``, over a handler of its own."""
from __future__ import annotations

import os
import signal

import pytest

from ctxlearn.signals import handled

pytestmark = pytest.mark.usefixtures("terminal_signals")


def test_the_handler_runs_in_the_block_and_the_old_one_is_put_back_after() -> None:
    got = []
    with handled([signal.SIGTERM], lambda signum, frame: got.append(signum)):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
    assert got == [signal.SIGTERM, signal.SIGTERM] and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_once_puts_the_old_handlers_back_at_the_first_signal() -> None:
    got = []
    with handled([signal.SIGINT, signal.SIGTERM], lambda signum, frame: got.append(signum), once=True):
        os.kill(os.getpid(), signal.SIGTERM)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # a second Ctrl-C: KeyboardInterrupt
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert got == [signal.SIGTERM]


def test_an_ignored_signal_and_with_only_default_a_handler_of_its_own_are_left_alone() -> None:
    def own(signum, frame):
        return None

    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, own)
    with handled([signal.SIGHUP, signal.SIGTERM], lambda signum, frame: None, only_default=True):
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN and signal.getsignal(signal.SIGTERM) is own
    with handled([signal.SIGTERM], lambda signum, frame: None):  # without only_default: taken over, then put back
        assert signal.getsignal(signal.SIGTERM) is not own
    assert signal.getsignal(signal.SIGTERM) is own
