"""One writer per output folder: a command that writes ``--out`` holds a lock beside it (``.NAME.lock``), so
the same command started again in another terminal is refused at once instead of mixing its checkpoints
and files with the first one's. The operating system drops the lock when its process ends, killed too."""
from __future__ import annotations

import contextlib
import fcntl
import functools
import os
from pathlib import Path
from typing import IO, Any, Callable, Iterator, TypeVar

from ctxlearn.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


def lock_path(out: str | Path) -> Path:
    path = Path(out).absolute()
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def exclusive(out: str | Path, flag: str = "--out") -> Iterator[None]:
    """Hold ``out``'s lock for the block; a ConfigError naming the holder's process id if another holds it."""
    path = lock_path(out)
    existing = next(p for p in path.parents if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{flag} {out}: {existing} is a file, so nothing can be written under it; give a path "
                          "in a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = _acquire(path, flag, out)
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield
    finally:
        path.unlink(missing_ok=True)  # before the lock goes: a process that opens it later makes a new one
        fh.close()


def _acquire(path: Path, flag: str, out: str | Path) -> IO[str]:
    """The lock file, open and locked. A file locked just as its holder removed it is no lock: the next
    process makes a new one, so the lock is taken again until the file locked is the one at ``path``."""
    while True:
        fh = open(path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            by = f"another ctxlearn process (pid {holder})" if holder else "another ctxlearn process"
            raise ConfigError(f"{flag} {out} is being written by {by}; wait for it to end, or give another "
                              f"{flag}") from None
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino:
                return fh
        fh.close()


def holds_out(run: F) -> F:
    """``run(cfg, ...)`` holding ``cfg.out``'s lock; in a launched run only its main process takes it, as
    only that process writes the folder."""
    @functools.wraps(run)
    def wrapped(cfg: Any, *args: Any, **kwargs: Any) -> Any:
        from ctxlearn.train.dist import is_main  # not at the top: it imports torch

        with exclusive(cfg.out) if is_main() else contextlib.nullcontext():
            return run(cfg, *args, **kwargs)

    return wrapped  # type: ignore[return-value]
