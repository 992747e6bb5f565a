"""A comparison's cells run as processes of their own: Ctrl-C reaches compare, which lets the cell save."""
from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from ctxlearn.compare.cells import run_to_a_stop

CELL = """
import os, signal, sys, time
path = sys.argv[1]
def stop(signum, frame):
    signal.signal(signal.SIGINT, lambda *a: sys.exit(3))  # a second signal: no save
    time.sleep(0.5)  # the step ends, and its checkpoint is saved
    open(path, "w").write(str(os.getsid(0)))
    sys.exit(130)
signal.signal(signal.SIGINT, stop)
open(path + ".ready", "w").close()
time.sleep(30)
"""


@pytest.mark.skipif(os.name != "posix", reason="POSIX sessions and signals")
@pytest.mark.usefixtures("terminal_signals")
def test_ctrl_c_is_passed_to_the_cell_once_and_waits_for_its_save(tmp_path: Path) -> None:
    """subprocess.run killed the cell a quarter second after Ctrl-C: its steps since the last checkpoint were lost."""
    saved = tmp_path / "saved"

    def ctrl_c_once_ready() -> None:
        while not Path(f"{saved}.ready").exists():
            threading.Event().wait(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # to compare alone: a terminal's Ctrl-C does not reach the cell's session

    threading.Thread(target=ctrl_c_once_ready, daemon=True).start()
    with (tmp_path / "cell.log").open("w") as log, pytest.raises(KeyboardInterrupt):
        run_to_a_stop([sys.executable, "-c", CELL, str(saved)], log)
    assert saved.is_file(), "the cell should have saved before compare stopped"
    assert int(saved.read_text()) != os.getsid(0)  # a session of its own


def test_a_cell_that_ends_gives_its_output_and_status(tmp_path: Path) -> None:
    with (tmp_path / "cell.log").open("w") as log:
        done = run_to_a_stop([sys.executable, "-c", "import sys; print('{}'); sys.exit(4)"], log)
    assert (done.returncode, done.stdout) == (4, "{}\n")
