"""Errors a user can act on: each says where the problem is and what would be right."""
from __future__ import annotations

from pathlib import Path


class CtxlearnError(Exception):
    """Base class for errors shown to users without a traceback."""


class Interrupted(KeyboardInterrupt):
    """A command stopped by one of ``signals.ENDING_SIGNALS``: ``signum``, for the exit status 128 + it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class ConfigError(CtxlearnError):
    """A setting is wrong (unknown name, bad value). ``field`` names the one setting at fault, where there is
    one, so a recipe file can point at the line that set it (``config.from_dict``)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class ModelError(CtxlearnError):
    """A model cannot be found or loaded."""


class DataError(CtxlearnError):
    """A data file is wrong: names the file, line and field, and what is expected. ``missing``: the roles
    ("text", "label", "text_pair") of the fields it lacks; ``likely``: for those, the columns the file's
    values suggest."""

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None, field: str | None = None,
                 expected: str | None = None, missing: tuple[str, ...] = (),
                 likely: dict[str, str] | None = None) -> None:
        self.path, self.line, self.field, self.missing, self.likely = str(path), line, field, missing, likely or {}
        self.problem, self.expected = problem, expected
        where = self.path + (f":{line}" if line is not None else "")
        what = f"field {field!r}: " if field else ""
        hint = f"; expected {expected}" if expected else ""
        super().__init__(f"{where}: {what}{problem}{hint}")


class EmptyText(DataError):
    """A row's text (or either text of a pair) is missing or empty: ``predict --skip-empty`` leaves such rows out."""
