"""A comparison's cells run as processes of their own: Ctrl-C reaches compare, which lets the cell save."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import ctxlearn.compare.cells as cells
from ctxlearn.compare.cells import Cell, Progress, goes_on, run_cell, run_to_a_stop
from ctxlearn.compare.command import CELL_OF
from ctxlearn.errors import CtxlearnError

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


def test_a_cell_that_goes_on_says_so_and_adds_to_the_log_of_its_first_part(tmp_path: Path, monkeypatch,
                                                                            capsys) -> None:
    """Its log was written anew, and the first part's steps and its stop were lost from it."""
    folder, log = tmp_path / "lora-s0", tmp_path / "lora-s0.log"
    log.write_text("step 40/60\nctxlearn: interrupted; a checkpoint was saved at step 42\n")
    partial = folder.with_name("lora-s0.partial")
    (partial / "runs").mkdir(parents=True)
    assert goes_on(folder) == ""  # a run stopped before its first checkpoint starts afresh
    (partial / "checkpoint-42").mkdir()
    assert goes_on(folder) == str(partial)

    def second_part(cmd, fh, env):
        assert env[CELL_OF] == str(tmp_path.parent)  # the comparison's folder, for the cell's stop hint
        fh.write("step 60/60\nboom\n")
        return subprocess.CompletedProcess(cmd, 1, "")

    monkeypatch.setattr(cells, "run_to_a_stop", second_part)
    with pytest.raises(CtxlearnError, match=r"cell lora-s0 failed \(exit 1\)"):
        run_cell(Cell("lora", 0), folder, [], log)
    assert log.read_text() == ("step 40/60\nctxlearn: interrupted; a checkpoint was saved at step 42\n\n"
                               f"[compare] going on from {partial}\nstep 60/60\nboom\n")
    Progress(3).start(Cell("lora", 0), goes_on(folder))
    assert capsys.readouterr().err == "[1/3] lora seed 0, going on from lora-s0.partial\n"
