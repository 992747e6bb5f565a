"""ctxlearn's cache folder (``$CTXLEARN_CACHE``, default ``~/.cache/ctxlearn``): what each kind of entry
is, where it lives, and clearing it. Everything there is remade when next needed, so clearing costs only
that time. Only the folders named in ``KINDS``, and in them only the names ctxlearn writes (``NAMES``), are
read or removed: the cache folder may be one the user shares, with a ``models`` folder of their own."""
from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

KINDS = {
    "models": "fp32 copies of GGUF models (smollm2); remade by the next load",
    "features": "frozen-backbone features (head, --head-init probe); recomputed by the next run that reads them",
    "icl-index": "embeddings of nearest-neighbour demonstration pools; recomputed by the next icl run",
}
KEY = r"[0-9a-f]{32}"  # a cached array's name: a sha256 prefix (``cached_array``)
NAMES = {  # what each kind's writer names an entry, and its temporary copy
    "models": re.compile(r".+-fp32(\.tmp-\d+-\d+)?"),  # registry._dequantized_copy
    "features": re.compile(KEY + r"(-words)?(\.tmp\d+)?\.npy"),
    "icl-index": re.compile(KEY + r"(\.tmp\d+)?\.npy"),
}
IN_PROGRESS_S = 3600  # a temporary file younger than this may be one a running job is writing: kept


def cache_dir() -> Path:
    """``$CTXLEARN_CACHE``, or ``~/.cache/ctxlearn`` where it is unset or empty (``CTXLEARN_CACHE=`` was the
    current folder, whose ``models`` and ``features`` folders ``cache clear`` then emptied)."""
    return Path(os.environ.get("CTXLEARN_CACHE") or Path.home() / ".cache" / "ctxlearn")


def kind_dir(kind: str) -> Path:
    """The folder of one of ``KINDS``: writers go through this, so ``ctxlearn cache`` sees all they write."""
    if kind not in KINDS:
        raise KeyError(f"{kind!r} is not a cache kind ({', '.join(KINDS)})")
    return cache_dir() / kind


def cached_array(key: str | None, compute: Callable[[], np.ndarray], folder: Path) -> np.ndarray:
    """``compute()``, stored under ``key`` in ``folder`` and read from there next time (no key: no cache).
    Written to a temporary name, then renamed: an interrupted job never leaves half an array."""
    path = folder / f"{key}.npy" if key else None
    if path is not None and path.is_file():
        return np.load(path)
    out = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{time.time_ns()}.npy")
        np.save(tmp, out)
        tmp.replace(path)
    return out


@dataclass(frozen=True)
class Usage:
    kind: str
    entries: int
    bytes: int


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _entries(kind: str, now: float) -> list[Path]:
    """The cached items of one kind: the files and folders its writer names so, less temporary ones a job may be
    writing."""
    folder = kind_dir(kind)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if NAMES[kind].fullmatch(p.name)
                  and (".tmp" not in p.name or now - p.stat().st_mtime > IN_PROGRESS_S))


def _found(kinds: list[str] | None) -> dict[str, list[Path]]:
    """The entries of each kind (all of ``KINDS`` unless named)."""
    now = time.time()
    return {kind: _entries(kind, now) for kind in kinds or list(KINDS)}


def _usage(found: dict[str, list[Path]]) -> list[Usage]:
    return [Usage(kind, len(paths), sum(map(_size, paths))) for kind, paths in found.items()]


def usage(kinds: list[str] | None = None) -> list[Usage]:
    """Entries and bytes of each kind (all of ``KINDS`` unless named)."""
    return _usage(_found(kinds))


def clear(kinds: list[str] | None = None) -> list[Usage]:
    """Remove the entries of each kind (all of ``KINDS`` unless named); returns what was removed."""
    found = _found(kinds)
    removed = _usage(found)  # counted before removal, from the same listing
    for path in (p for paths in found.values() for p in paths):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"
