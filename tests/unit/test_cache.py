"""The cache folder: what `ctxlearn cache` counts is what runs write there, and clearing removes only that."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from ctxlearn.cache import IN_PROGRESS_S, cache_dir, cached_array, clear, kind_dir, usage
from ctxlearn.cli import main


A, B, C, D, E = (letter * 32 for letter in "abcde")  # cached arrays' names: a 32-hex-digit key


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("CTXLEARN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _write(path: Path, n_bytes: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * n_bytes)
    return path


def test_a_head_run_writes_features_that_cache_lists_and_clears(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                                cache: Path, capsys) -> None:
    assert main(["train", "--data", str(toy_data), "--model", str(tiny_bert), "--out", str(tmp_path / "run"),
                 "--bf16", "off", "--method", "head"]) == 0
    written = sorted(kind_dir("features").glob("*.npy"))
    assert len(written) >= 2  # train and dev features, at least
    capsys.readouterr()
    assert main(["cache"]) == 0
    listed = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[1:-1]}
    assert listed == {"models": "0", "features": str(len(written)), "icl-index": "0", "total": str(len(written))}
    assert main(["cache", "clear", "features"]) == 0
    assert f"removed features: {len(written)} entries" in capsys.readouterr().out
    assert not any(p.exists() for p in written)


def test_usage_counts_entries_and_bytes_of_each_kind(cache: Path) -> None:
    _write(cache / "features" / f"{A}.npy", 1000)
    _write(cache / "features" / f"{B}-words.npy", 500)
    _write(cache / "models" / "smol-fp32" / "model.safetensors", 3000)
    _write(cache / "models" / "smol-fp32" / "config.json", 20)
    assert [(u.kind, u.entries, u.bytes) for u in usage()] == [("models", 1, 3020), ("features", 2, 1500),
                                                               ("icl-index", 0, 0)]


def test_clear_keeps_other_kinds_other_folders_and_files_being_written(cache: Path) -> None:
    old_tmp = _write(cache / "features" / f"{C}.tmp1.npy", 10)
    os.utime(old_tmp, (time.time() - 2 * IN_PROGRESS_S,) * 2)  # left by an interrupted job
    fresh_tmp = _write(cache / "features" / f"{D}.tmp2.npy", 10)
    kept = [_write(cache / "icl-index" / f"{E}.npy", 10), _write(cache / "mine" / "notes.txt", 10), fresh_tmp]
    gone = [_write(cache / "features" / f"{A}.npy", 10), old_tmp]
    removed = clear(["features"])
    assert [(u.kind, u.entries) for u in removed] == [("features", 2)]
    assert all(p.exists() for p in kept) and not any(p.exists() for p in gone)


def test_clear_removes_only_what_ctxlearn_writes_in_a_folder_the_user_shares(cache: Path) -> None:
    """`CTXLEARN_CACHE=~/work` emptied the user's own ~/work/models and ~/work/features."""
    mine = [_write(cache / "models" / "my-bert" / "model.safetensors", 10), _write(cache / "features" / "x.csv", 10),
            _write(cache / "icl-index" / "notes.npy", 10)]
    ours = [_write(cache / "models" / "SmolLM2-135M-Instruct.Q4_1-fp32" / "config.json", 10),
            _write(cache / "features" / f"{A}.npy", 10), _write(cache / "icl-index" / f"{B}.npy", 10)]
    assert [(u.kind, u.entries) for u in usage()] == [("models", 1), ("features", 1), ("icl-index", 1)]
    assert [(u.kind, u.entries) for u in clear()] == [("models", 1), ("features", 1), ("icl-index", 1)]
    assert all(p.exists() for p in mine) and not any(p.exists() for p in ours)


def test_an_empty_cache_variable_is_the_default_folder_not_the_current_one(monkeypatch, tmp_path: Path) -> None:
    """`CTXLEARN_CACHE= ctxlearn cache clear` cleared the current folder's models/ and features/."""
    monkeypatch.setenv("CTXLEARN_CACHE", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "ctxlearn"


def test_cached_array_computes_once_and_reads_the_stored_copy(cache: Path) -> None:
    calls = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.arange(6.0).reshape(2, 3)

    first = cached_array("k", compute, kind_dir("features"))
    again = cached_array("k", compute, kind_dir("features"))
    assert len(calls) == 1 and np.array_equal(first, again)
    assert [p.name for p in kind_dir("features").iterdir()] == ["k.npy"]  # no temporary file left
    assert cached_array(None, compute, kind_dir("features")) is not None and len(calls) == 2  # no key: no cache


def test_a_mistyped_kind_is_refused_with_a_guess(cache: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["cache", "clear", "featurs"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "unknown kind 'featurs' (did you mean 'features'?)" in err


def test_kind_dir_refuses_a_kind_that_cache_would_not_list() -> None:
    with pytest.raises(KeyError, match="not a cache kind"):
        kind_dir("tokenizers")
