"""Raw text -> words with character offsets, for tagging text that is not tokenised yet.

The rule: a word is a run of letters, digits and underscores, which may hold apostrophes between
them (``don't``, ``O'Brien``); every other character that is not white space is a word of its own
(``Paris-based`` -> ``Paris``, ``-``, ``based``; ``U.S.`` -> ``U``, ``.``, ``S``, ``.``). Offsets are
Python string indices, end exclusive, so ``text[start:end]`` is the word.
"""
from __future__ import annotations

import re
from typing import Iterable

WORD = re.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")


def split_words(text: str, cuts: Iterable[int] = ()) -> list[tuple[str, int, int]]:
    """(word, start, end) for each word of ``text``; a word is also split at every offset in ``cuts``
    that falls inside it (entity boundaries that the rule above would not see)."""
    cuts = sorted(set(cuts))
    out = []
    for m in WORD.finditer(text):
        start, end = m.span()
        for cut in (c for c in cuts if start < c < end):
            out.append((text[start:cut], start, cut))
            start = cut
        out.append((text[start:end], start, end))
    return out


def join_words(tokens: Iterable[str]) -> tuple[str, list[tuple[int, int]]]:
    """Tokens joined by single spaces, and each token's (start, end) in that text: the text and
    offsets a pre-tokenised sentence is reported in."""
    text, offsets = "", []
    for tok in tokens:
        if text:
            text += " "
        offsets.append((len(text), len(text) + len(tok)))
        text += tok
    return text, offsets
