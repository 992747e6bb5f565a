"""Tag schemes: IO, IOB1, BIO (IOB2) and BIOES, detected or given, all converted to BIO and checked.

A tag is ``O``, ``P-TYPE`` with a prefix P (B, I, E, S; BILOU's L and U read as E and S), or a bare
``TYPE`` in IO data. Types may contain hyphens (``B-creative-work``): only the first one splits. Some
corpora join with an underscore (``B_PER``); that reads the same, and the model's tags use a hyphen.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ctxlearn.errors import DataError

SCHEMES = ("IO", "IOB1", "BIO", "BIOES")
SCHEME_ALIASES = {"IOB2": "BIO", "IOBES": "BIOES", "BILOU": "BIOES"}  # seqeval's names, and BILOU, for the same schemes
# every name --tag-scheme takes, case aside, and the scheme (or auto) it means
SCHEME_NAMES = {name.casefold(): scheme for name, scheme in
                {"auto": "auto", **dict(zip(SCHEMES, SCHEMES)), **SCHEME_ALIASES}.items()}
PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}  # BILOU's Last/Unit are BIOES's E/S
JOINERS = ("-", "_")  # between prefix and type: B-PER, or B_PER as some corpora write it
_TO_BIO = {"S": "B", "E": "I"}
ALLOWED = {"IO": {"I", ""}, "IOB1": {"B", "I"}, "BIO": {"B", "I"}, "BIOES": {"B", "I", "E", "S"}}


@dataclass(frozen=True)
class TagSite:
    """Where one tag sequence came from, so a bad tag can be named: a token's line (CoNLL) or the
    record's line and its tags field's element (JSON Lines, Parquet)."""

    path: str
    lines: tuple[int, ...]  # the line of each token
    field: str = "tag"
    indexed: bool = False  # one record holds every tag (JSON Lines): name the element, tags[3]

    def error(self, i: int, problem: str, expected: str) -> DataError:
        field = f"{self.field}[{i}]" if self.indexed else self.field
        return DataError(self.path, problem, line=self.lines[i], field=field, expected=expected)


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` (or ``"B_PER"``) -> ("B", "PER"); ``"O"`` -> ("O", ""); a bare ``"PER"`` -> ("", "PER")."""
    if tag == "O":
        return "O", ""
    for joiner in JOINERS:
        head, sep, rest = tag.partition(joiner)
        if sep and head in PREFIXES:
            return PREFIXES[head], rest
    return "", tag


def check_tag(tag: str, site: TagSite, i: int) -> tuple[str, str]:
    """``split_tag`` that rejects empty tags and a prefix with no type (``B-``)."""
    if not tag:
        raise site.error(i, "empty tag", "O or a tag such as B-PER")
    prefix, kind = split_tag(tag)
    if prefix not in ("O", "") and not kind:
        raise site.error(i, f"tag {tag!r} has a prefix but no entity type", "a tag such as B-PER")
    return prefix, kind


def detect_scheme(sequences: Sequence[Sequence[str]]) -> str:
    """The scheme the tags are written in. E-/S- (or L-/U-) tags mean BIOES; no B- at all means IO;
    B- used only right after a tag of the same type, while I- starts entities, means IOB1; else BIO."""
    prefixes = {split_tag(t)[0] for seq in sequences for t in seq}
    if prefixes & {"E", "S"}:
        return "BIOES"
    if "B" not in prefixes:
        return "IO"
    b_only_inside, i_starts = True, False
    for seq in sequences:
        before = "O"
        for tag in seq:
            prefix, kind = split_tag(tag)
            continues = before != "O" and split_tag(before)[1] == kind
            b_only_inside &= prefix != "B" or continues
            i_starts |= prefix == "I" and not continues
            before = tag
    return "IOB1" if b_only_inside and i_starts else "BIO"


def to_bio(tags: Sequence[str], scheme: str, site: TagSite) -> list[str]:
    """Tags in ``scheme`` -> BIO. Tags the scheme does not have (E- in BIO data) are errors."""
    out, before = [], ("O", "")
    for i, tag in enumerate(tags):
        prefix, kind = check_tag(tag, site, i)
        if prefix != "O" and prefix not in ALLOWED[scheme]:
            raise site.error(i, f"tag {tag!r} is not a {scheme} tag{_slip(tag)}",
                             f"{scheme} tags ({_examples(scheme)}), or --tag-scheme naming the scheme the file uses")
        continues = before[0] != "O" and before[1] == kind
        if prefix == "O":
            out.append("O")
        elif prefix in ("", "I") and scheme in ("IO", "IOB1"):  # I- continues a same-type run, else starts one
            out.append(f"{'I' if continues else 'B'}-{kind}")
        else:  # BIO stays; BIOES: S- begins a one-token entity, E- ends one
            out.append(f"{_TO_BIO.get(prefix, prefix)}-{kind}")
        before = (prefix, kind)
    return out


def _slip(tag: str) -> str:
    """What a tag no scheme has most likely meant: the digit 0 for the letter O, a lower-case prefix."""
    if tag == "0":
        return " (the digit 0: outside is the letter O)"
    if tag[:1].upper() in PREFIXES and tag[:1].islower() and tag[1:2] in JOINERS:
        return f" (prefixes are upper case: {tag[:1].upper()}{tag[1:]})"
    return ""


def _examples(scheme: str) -> str:
    return {"IO": "O, I-PER or bare PER", "IOB1": "O, I-PER, B-PER", "BIO": "O, B-PER, I-PER",
            "BIOES": "O, B-PER, I-PER, E-PER, S-PER"}[scheme]


def orphans(tags: Sequence[str]) -> list[int]:
    """Positions of I-X tags that do not continue an X entity (invalid in BIO)."""
    return [i for i, tag in enumerate(tags) if tag.startswith("I-")
            and (i == 0 or tags[i - 1] == "O" or tags[i - 1][2:] != tag[2:])]


def repair_bio(tags: Sequence[str]) -> list[str]:
    """An orphan I-X starts an X entity (as conlleval reads it)."""
    out = list(tags)
    for i in orphans(out):
        out[i] = "B-" + out[i][2:]
    return out


def orphan_error(tags: Sequence[str], site: TagSite, total: int = 1) -> DataError:
    """The error naming the first I- tag of ``tags`` that continues no entity; ``total``: how many the file has."""
    i = orphans(tags)[0]
    before = f"after {tags[i - 1]!r}" if i else "at the start of the sentence"
    many = f" (the first of {total} such tags in the file)" if total > 1 else ""
    return site.error(i, f"tag {tags[i]!r} {before} continues no {tags[i][2:]} entity{many}",
                      f"B-{tags[i][2:]} to start it (or --repair-tags to turn such tags into B- with a warning)")


class RepairedTags(UserWarning):
    """``count`` I- tags of the file ``path``, the first on ``line``, continued no entity and were read as
    B- (--repair-tags)."""

    def __init__(self, path: str, count: int, line: int) -> None:
        self.path, self.count, self.line = path, count, line
        tags = "I- tag continued no entity and was" if count == 1 else "I- tags continued no entity and were"
        super().__init__(f"{path}: {count} {tags} turned into B- (--repair-tags; the first on line {line})")


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first token, end token exclusive) of each entity in valid BIO tags."""
    spans: list[tuple[str, int, int]] = []
    for i, tag in enumerate(tags):
        if tag.startswith("B-"):
            spans.append((tag[2:], i, i + 1))
        elif tag.startswith("I-") and spans and spans[-1][2] == i and spans[-1][0] == tag[2:]:
            spans[-1] = (tag[2:], spans[-1][1], i + 1)
    return spans


def bio_labels(types: set[str]) -> list[str]:
    """The model's label list: O, then B- and I- of each type in sorted order."""
    return ["O", *[f"{p}-{t}" for t in sorted(types) for p in ("B", "I")]]
