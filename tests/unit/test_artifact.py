from __future__ import annotations

from pathlib import Path

import pytest

from ctxlearn.artifact import read_manifest, write_atomically
from ctxlearn.errors import ModelError


def test_failed_write_keeps_the_old_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    write_atomically(out, lambda d: (d / "a.txt").write_text("old"))

    def crash(d: Path) -> None:
        (d / "a.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(out, crash)
    assert (out / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run"], "no temporary folders are left behind"


def test_rewrite_replaces_whole_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    write_atomically(out, lambda d: (d / "a.txt").write_text("1"))
    write_atomically(out, lambda d: (d / "b.txt").write_text("2"))
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no manifest.json"):
        read_manifest(tmp_path)
