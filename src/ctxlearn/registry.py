"""One small registry per kind of thing (models, methods, datasets): a dict and a decorator."""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'lora'?)"`` for the choice closest to a mistyped ``name`` (case aside), or ""."""
    by_case = {choice.casefold(): choice for choice in choices}
    close = difflib.get_close_matches(name.casefold(), by_case, n=1, cutoff=0.75)
    return f" (did you mean {by_case[close[0]]!r}?)" if close else ""


class Registry(Generic[T]):
    """Name -> object map that refuses duplicate names and lists choices in its errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str, field: str | None = None) -> T:
        """The object registered as ``name``; ``field`` names the setting that gave it, for the error."""
        if name not in self._items:
            from ctxlearn.errors import ConfigError

            raise ConfigError(f"unknown {self.kind} {name!r}{did_you_mean(name, self._items)}; "
                              f"choose one of: {', '.join(self.names())}", field=field)
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
