"""One writer per output folder: a second command given the same --out is refused while the first runs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ctxlearn.cli import main
from ctxlearn.errors import ConfigError
from ctxlearn.lock import exclusive, lock_path


def test_a_held_lock_refuses_another_holder_naming_its_process(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with exclusive(out):
        assert lock_path(out).read_text() == f"{os.getpid()}\n"
        with pytest.raises(ConfigError, match=rf"--out {out} is being written by another ctxlearn process "
                                              rf"\(pid {os.getpid()}\); wait for it to end, or give another --out"):
            with exclusive(out):
                pass
    assert not lock_path(out).exists()
    with exclusive(out):  # released: taken again
        pass


def test_the_lock_is_released_when_the_block_fails(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        with exclusive(out):
            raise KeyboardInterrupt
    with exclusive(out):
        pass


def test_a_lock_file_left_by_a_killed_process_holds_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    lock_path(out).write_text("99999\n")  # the process died; the system dropped its lock, the file stayed
    with exclusive(out):
        assert lock_path(out).read_text() == f"{os.getpid()}\n"


def test_train_and_predict_refuse_an_output_being_written(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                          capsys) -> None:
    """Two `ctxlearn train --out runs/x` at once (a rerun in another terminal) wrote checkpoints into one folder."""
    out = tmp_path / "run"
    with exclusive(out):
        assert main(["train", "--data", str(toy_data), "--model", str(tiny_bert), "--out", str(out)]) == 2
    assert f"--out {out} is being written by another ctxlearn process (pid {os.getpid()})" in capsys.readouterr().err
    assert not out.exists()
    src, dst = tmp_path / "in.txt", tmp_path / "preds.csv"
    src.write_text("good great film\n")
    with exclusive(dst, "--output"):
        assert main(["predict", str(tmp_path / "any"), "--input", str(src), "--output", str(dst)]) == 2
    assert f"--output {dst} is being written by another ctxlearn process" in capsys.readouterr().err
