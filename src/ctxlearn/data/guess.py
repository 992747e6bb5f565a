"""Which columns of a file likely hold the text and the label, judged by their values. Offered as flags
to copy in the error a file gets when its fields are not found; never taken silently, since a wrong
guess (a title read as the text, a star rating as the class) would train without a word."""
from __future__ import annotations

import shlex
from typing import Any

from ctxlearn.data.example import are_scores, label_name, numbers

SAMPLE = 200  # rows looked at


def _words(values: list[Any], gaps: bool = False) -> float | None:
    """The mean number of words of a column's values, where all are text that is not a number (``gaps``: but
    for empty cells, a corpus's blank rows); else None."""
    if gaps:
        values = [v for v in values if v is not None and not (isinstance(v, str) and not v.strip())]
    if not values or not all(isinstance(v, str) and v.strip() and numbers([v]) is None for v in values):
        return None
    return sum(len(v.split()) for v in values) / len(values)


def _classes(values: list[Any]) -> int | None:
    """How many classes a column's values name, where all name one and repeat (at least 2, at most half
    as many as the rows, so that ids and free text are not taken); else None."""
    names = [label_name(v) for v in values]
    if None in names:
        return None
    distinct = len(set(names))
    return distinct if 2 <= distinct <= len(values) // 2 else None


def likely_fields(records: list[dict[str, Any]], roles: list[str], taken: set[str] = frozenset(),
                  gaps: bool = False) -> dict[str, str]:
    """For each of ``roles`` ("text", "text_pair", "label") that the first rows ``records`` suggest, the
    column: the text is the column of the most words (``gaps``: empty cells allowed, where the reader skips
    them); a pair's two texts the two such columns of most words that do not repeat as classes do, in the
    file's order (``_pair``); the label the column (not a text, nor one of ``taken``) of the fewest classes."""
    columns = _columns(records, taken)
    values = {c: [r.get(c) for r in records] for c in columns}
    words = {c: w for c in columns if (w := _words(values[c], gaps)) is not None}
    found: dict[str, str] = {}
    if "text" in roles and words:
        found["text"] = max(words, key=words.__getitem__)
    if "text_pair" in roles:
        prose = {c: w for c, w in words.items() if _classes(values[c]) is None}
        pair = _pair(prose, columns, both="text" in roles)
        found = {**found, **pair} if pair else {}  # a lone text column is no pair: naming it would not do
    texts = {found.get("text"), found.get("text_pair")}
    classes = {c: n for c in columns if c not in texts and (n := _classes(values[c])) is not None}
    if "label" in roles and classes:
        found["label"] = min(classes, key=classes.__getitem__)
    return found


def _pair(prose: dict[str, float], columns: list[str], both: bool) -> dict[str, str]:
    """The columns of a text pair among ``prose`` (mean words by column): with ``both``, the two of most
    words, the first in the file as the text and the other as its pair (premise, then hypothesis); else the
    one of most words as the pair of a text already named. None where too few columns hold text."""
    wordiest = sorted(prose, key=prose.__getitem__, reverse=True)[:2 if both else 1]
    if len(wordiest) < (2 if both else 1):
        return {}
    return dict(zip(("text", "text_pair") if both else ("text_pair",), sorted(wordiest, key=columns.index)))


def field_flags(found: dict[str, str]) -> str:
    """The flags that name ``found`` columns, ready to copy: "--text-field review --label-field sentiment"."""
    return " ".join(f"--{role.replace('_', '-')}-field {shlex.quote(name)}" for role, name in found.items())


def score_columns(records: list[dict[str, Any]], taken: set[str] = frozenset()) -> dict[str, list[str]]:
    """The columns (not of ``taken``) whose values in the first rows ``records`` are scores, not classes,
    each with its first values as the file writes them: a label column that must be binned before it can be
    learned."""
    raw = {c: [r.get(c) for r in records] for c in _columns(records, taken)}
    names = {c: [label_name(v) for v in values] for c, values in raw.items()}
    return {c: list(dict.fromkeys(map(str, raw[c]))) for c, v in names.items()
            if None not in v and are_scores(list(set(v)))}


def _columns(records: list[dict[str, Any]], taken: set[str]) -> list[str]:
    """The columns of ``records`` in the order they first come, less ``taken``."""
    return [c for c in dict.fromkeys(k for r in records for k in r) if c not in taken]
