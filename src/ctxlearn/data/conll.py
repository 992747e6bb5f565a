"""CoNLL files: one token per line with its columns separated by tabs (or, on lines without a tab, by
white space); the token is the first column and the tag the last (or ``tag_column``); blank lines end
sentences; ``-DOCSTART-`` lines mark document breaks and are skipped, and so are comment lines before
a sentence, ``# key = value`` as CoNLL-U and MultiCoNER write them (``# id f0ed\tdomain=en``)."""
from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path

from ctxlearn.data.readers import BOM, numbered_lines
from ctxlearn.data.example import TaggedSentence
from ctxlearn.errors import DataError


def columns(raw: str) -> list[str]:
    """A tab-separated line keeps spaces inside its columns (tokens such as ``New York``); a line without a
    tab is split at ASCII spaces only, so a token keeps its non-breaking space (``New\u00a0York B-LOC`` lost
    ``York``). Stray byte-order marks (U+FEFF, invisible; WNUT-17's dev file ends with a line of two) count
    as space. White space at the end of a line is no column: ``Paris\tB-LOC\t`` has its tag last."""
    raw = raw.replace(BOM, " ").rstrip()
    if "\t" in raw:
        return [c.strip() for c in raw.split("\t")]
    return [c for c in raw.split(" ") if c] if raw.strip() else []


def is_comment(raw: str) -> bool:
    """``# text = ...`` or ``# id f0ed\tdomain=en``: a hash, a space and a key with a value. A token ``#``
    (a tweet's hashtag sign, ``#\tO`` or ``# O``) has no ``=`` after it."""
    return raw.startswith("# ") and "=" in raw


TAG_LIKE = re.compile(r"O|[BIESLU][-_].+")  # what a tag column holds: O, B-PER, I_LOC, S-ORG, ...


def read_conll(path: Path, tag_column: int = -1, labelled: bool = True) -> list[TaggedSentence]:
    """Sentences of a CoNLL file, tags as written (``labelled=False`` reads tokens only)."""
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    columns_seen = ColumnsSeen()
    dropped: list[tuple[int, str]] = []  # unlabelled lines whose columns after the token hold no tag: lost words

    def close() -> None:
        if tokens:
            sentences.append(TaggedSentence(tuple(tokens), tuple(tags), tuple(lines)))
            tokens.clear(), tags.clear(), lines.clear()

    for line, raw in numbered_lines(path):
        cols = columns(raw)
        if not cols or not any(cols):
            close()
        elif cols[0] == "-DOCSTART-":
            close()
        elif not tokens and is_comment(raw):
            continue
        else:
            tokens.append(_token(cols, path, line))
            lines.append(line)
            if labelled:
                tags.append(_tag(cols, tag_column, path, line))
                columns_seen.add(cols, line)
            elif len(cols) > 1 and not TAG_LIKE.fullmatch(cols[-1]):
                dropped.append((line, raw.strip()))
    close()
    if dropped:
        warnings.warn(f"{path}: {len(dropped)} line(s) hold more after the token than a tag (the first, line "
                      f"{dropped[0][0]}: {dropped[0][1]!r}), read as its first column alone; a CoNLL line is one "
                      "token, then a tab (or spaces) and its tag: give each word a line of its own")
    if labelled and tag_column == -1:
        columns_seen.check_last(path)
    return sentences


class ColumnsSeen:
    """Which columns of the lines with three or more hold tag-like values: a last column of something else
    (a SpaceAfter flag, a sentence id) was read as the tags, and trained as entity types `Yes` and `No`."""

    def __init__(self) -> None:
        self.lines, self.first, self.tag_like, self.values = 0, 0, Counter[int](), Counter[str]()

    def add(self, cols: list[str], line: int) -> None:
        if len(cols) < 3:
            return
        self.lines, self.first = self.lines + 1, self.first or line
        self.tag_like.update(i for i, c in enumerate(cols[1:-1], 1) if TAG_LIKE.fullmatch(c))
        self.tag_like.update([-1] if TAG_LIKE.fullmatch(cols[-1]) else [])
        self.values[cols[-1]] += 1

    def check_last(self, path: Path) -> None:
        others = [(n, i) for i, n in self.tag_like.items() if i > 0 and n >= self.lines / 2]
        if not self.lines or self.tag_like[-1] or not others:
            return
        column = max(others)[1]
        shown = ", ".join(repr(v) for v, _ in self.values.most_common(3))
        raise DataError(path, f"the last column, read as the tags, holds no O and no B-/I- tag ({shown}), where "
                        f"column {column} does", line=self.first, field="tag",
                        expected=f"--tag-column {column} (counted from 0), or the tags in the last column")


def _token(cols: list[str], path: Path, line: int) -> str:
    if not cols[0]:
        raise DataError(path, "empty token", line=line, field="column 1",
                        expected="the token in the first column, then its tag")
    return cols[0]


def _tag(cols: list[str], column: int, path: Path, line: int) -> str:
    if len(cols) < 2:
        raise DataError(path, f"only one column ({cols[0]!r})", line=line, field="tag",
                        expected="a token and its tag separated by a tab or spaces, or a blank line between sentences")
    if not -len(cols) <= column < len(cols) or column in (0, -len(cols)):
        raise DataError(path, f"no tag column {column} in a line of {len(cols)} columns", line=line, field="tag",
                        expected=f"--tag-column between 1 and {len(cols) - 1} (counted from 0; -1 = last)")
    if not cols[column]:
        raise DataError(path, "empty tag", line=line, field="tag", expected="O or a tag such as B-PER")
    return cols[column]
