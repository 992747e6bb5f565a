"""Raw text -> words with character offsets, for tagging text that is not tokenised yet.

The rule: a word is a run of letters, digits, underscores and combining marks (the accent of a decomposed
``é``, Devanagari's vowel signs), which may hold apostrophes between them (``don't``, ``O'Brien``); every
other character that is not white space is a word of its own
(``Paris-based`` -> ``Paris``, ``-``, ``based``; ``U.S.`` -> ``U``, ``.``, ``S``, ``.``). Offsets are
Python string indices, end exclusive, so ``text[start:end]`` is the word.
"""
from __future__ import annotations

import unicodedata
from typing import Iterable

import regex

# regex's \w, unlike re's, holds combining marks: re split a decomposed "Renée" (macOS, PDF text) into "Rene",
# the accent and "e", and tagged "Rene" and "e Fleming" as entities
WORD = regex.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")


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


UNSEEN = ("Z", "Cc", "Cf")  # categories of white space, control and format characters (U+200B, U+FEFF)


def unseen(text: str) -> bool:
    """Whether ``text`` holds no character one can see: only white space, control and format characters
    (zero-width spaces and joiners, byte-order marks), which a tokenizer reads as nothing."""
    return all(unicodedata.category(c).startswith(UNSEEN) for c in text)


def unseen_problem(text: str) -> str:
    """What is wrong with a text ``unseen`` holds true of: "empty text", naming its invisible characters
    where it has some besides white space."""
    names = sorted({f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}" for c in text if not c.isspace()})
    return "empty text" if not names else f"empty text: only invisible characters ({', '.join(names)})"


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
