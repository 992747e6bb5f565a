"""The signals that stop a command, and handling them while a block runs."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

# Signals whose default ends a process without a word: a scheduler's preemption, `docker stop`, `timeout`; the
# terminal closed (unless under nohup). ctxlearn ends on them as on Ctrl-C's SIGINT.
ENDING_SIGNALS = (signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else []))


@contextmanager
def handled(signals: Iterable[int], handler: Callable[[int, Any], None], *, only_default: bool = False,
            once: bool = False) -> Iterator[None]:
    """``handler`` for ``signals`` while the block runs, then the handlers there were; with ``once``, those are
    put back at the first signal, so that a second one does what it did before. Only in the main thread (where
    Python runs handlers). Left alone: a signal the process ignores (a background job's Ctrl-C, nohup's
    SIGHUP), one whose handler is not Python's (None: it could not be put back), and with ``only_default``
    one that has a handler of its own (an application that runs ctxlearn's ``main``)."""
    main = threading.current_thread() is threading.main_thread()
    before = {sig: old for sig in signals if main and (old := signal.getsignal(sig)) not in (None, signal.SIG_IGN)
              and not (only_default and old != signal.SIG_DFL)}

    def run(signum: int, frame: Any) -> None:
        if once:
            _put_back(before)
        handler(signum, frame)

    for sig in before:
        signal.signal(sig, run)
    try:
        yield
    finally:
        _put_back(before)


def _put_back(handlers: dict[int, Any]) -> None:
    for sig, old in handlers.items():
        signal.signal(sig, old)
