"""Tagging data: sentences of tokens with one tag each, read from CoNLL (``conll.py``) or JSON Lines,
brought to BIO (``tags.py``) and split into train/dev/test.

JSON Lines come in two shapes, told apart per line:
  {"tokens": ["Ada", "Lovelace", "wrote"], "tags": ["B-PER", "I-PER", "O"]}
  {"text": "Ada Lovelace wrote", "entities": [{"start": 0, "end": 12, "label": "PER"}]}
The second is split into words by ``words.split_words`` (and at every entity boundary); an entity
may also be written ``[start, end, label]``, and its type may be called ``type`` instead of ``label``.
The entity list may also be under ``label`` or ``labels``, as doccano exports sequence labelling,
and an entity's type under ``labels``, as Label Studio's JSON-MIN export has it:
  {"id": 1, "text": "Ada Lovelace wrote", "label": [[0, 12, "PER"]]}
  {"text": "Ada Lovelace wrote", "label": [{"start": 0, "end": 12, "text": "Ada Lovelace", "labels": ["PER"]}]}
Fields under other names are named by ``TagOptions.words_field`` and ``tags_field`` (--text-field and
--label-field): {"words": [...], "ner": [...]} is read with --text-field words --label-field ner.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, NamedTuple

from ctxlearn.data.conll import read_conll
from ctxlearn.data.example import TaggedSentence
from ctxlearn.data.parquet import class_names, parquet_table
from ctxlearn.data.readers import data_type, json_records, unknown_type
from ctxlearn.data.tags import (SCHEME_ALIASES, SCHEME_NAMES, SCHEMES, RepairedTags, TagSite, detect_scheme,
                               orphan_error, orphans, repair_bio, to_bio)
from ctxlearn.data.words import split_words
from ctxlearn.errors import ConfigError, DataError
from ctxlearn.registry import Registry, did_you_mean

JSONL_EXAMPLE = '{"tokens": ["Ada", "Lovelace"], "tags": ["B-PER", "I-PER"]}'
# where a record keeps its tags: ctxlearn's name, the Hub's NER data sets', and the name transformers' token
# classifiers take them under
TAG_COLUMNS = ("tags", "ner_tags", "labels")
DOCCANO_FIELDS = ("label", "labels")  # where doccano's sequence-labelling export keeps a text's spans


def entity_field(record: dict[str, Any], named: str | None = None) -> str | None:
    """The field of a raw-text record that holds its entity list: ``entities``, else the one ``named``, a
    ``label`` or ``labels`` holding a list of spans (empty, or of lists or objects: not a class name, nor
    a multi-label list of names)."""
    if "entities" in record:
        return "entities"
    for name in (*([named] if named else []), *DOCCANO_FIELDS):
        value = record.get(name)
        if isinstance(value, list) and (not value or isinstance(value[0], (list, dict))):
            return name
    return None


@dataclass(frozen=True)
class TagOptions:
    """How to read tags: the CoNLL column, the scheme (``auto`` detects it), whether an I- without
    its B- is repaired (with a warning) instead of an error, and whether tags are read at all. A JSON or
    Parquet record's words (a token list, or a raw text) may be under ``words_field`` and its tags (or
    entity spans) under ``tags_field``; None finds ctxlearn's and the Hub's names (``tokens``, ``text``,
    ``TAG_COLUMNS``, ``entities``)."""

    tag_column: int = -1
    scheme: str = "auto"
    repair: bool = False
    labelled: bool = True
    words_field: str | None = None
    tags_field: str | None = None

    def __post_init__(self) -> None:
        """The scheme as ``SCHEMES`` names it: case aside, and seqeval's names (IOB2, IOBES) and BILOU too."""
        scheme = SCHEME_NAMES.get(self.scheme.casefold())
        if scheme is None:
            aliases, guess = ", ".join(SCHEME_ALIASES), did_you_mean(self.scheme, [*SCHEMES, *SCHEME_ALIASES])
            raise ConfigError(f"tag_scheme must be auto or one of {', '.join(SCHEMES)} (or {aliases}), not "
                              f"{self.scheme!r}{guess}")
        object.__setattr__(self, "scheme", scheme)  # frozen: set once, here


def tag_options(settings: dict[str, Any], labelled: bool = True) -> TagOptions:
    """The ``TagOptions`` of a run's settings (a TrainConfig's, or its config.yaml): --text-field and
    --label-field, where they differ from their defaults, name the fields of the words and the tags."""
    def named(key: str, default: str) -> str | None:
        return settings[key] if settings.get(key) not in (None, default) else None

    return TagOptions(settings.get("tag_column", -1), settings.get("tag_scheme", "auto"),
                      bool(settings.get("repair_tags")), labelled, named("text_field", "text"),
                      named("label_field", "label"))


def named_fields(record: dict[str, Any], options: TagOptions, path: Path, line: int) -> dict[str, Any]:
    """``record`` with the fields ``options`` names under ctxlearn's names: the words under ``tokens`` (a
    list) or ``text`` (a string), their tags under ``tags`` or their entity spans under ``entities``."""
    renames: dict[str, str] = {}
    if options.words_field is not None:
        value = _named(record, options.words_field, path, line, "text", "the sentence's tokens (a list) or its text")
        renames[options.words_field] = "text" if isinstance(value, str) else "tokens"
    if options.tags_field is not None and options.labelled:
        _named(record, options.tags_field, path, line, "label", "its tags (a list, one per token) or its entity spans")
        words = renames[options.words_field] if options.words_field else "tokens" if "tokens" in record else "text"
        renames[options.tags_field] = "tags" if words == "tokens" else "entities"
    if not renames:
        return record
    replaced = set(renames.values())  # a field of ctxlearn's name that a named one replaces is dropped
    return {renames.get(k, k): v for k, v in record.items() if k in renames or k not in replaced}


def _named(record: dict[str, Any], name: str, path: Path, line: int, role: str, holds: str) -> Any:
    if name not in record:
        raise DataError(path, "not found", line=line, field=name, missing=(role,),
                        expected=f"{holds} (fields present: {', '.join(map(repr, record)) or 'none'})")
    return record[name]


TaggedReader = Callable[[Path, TagOptions], list[TaggedSentence]]
TAGGED_READERS: Registry[TaggedReader] = Registry("tagging file format")


@TAGGED_READERS.register("conll")
def read_tagged_conll(path: Path, options: TagOptions) -> list[TaggedSentence]:
    named = {"--text-field": options.words_field, "--label-field": options.tags_field}
    if options.labelled and any(named.values()):  # input to tag: a run's own fields are no user's flags
        warnings.warn(f"{', '.join(f for f, v in named.items() if v)}: fields of JSON or Parquet records, ignored "
                      "for CoNLL files (words are the first column, tags the --tag-column)", stacklevel=2)
    return read_conll(path, options.tag_column, options.labelled)


def read_tagged(path: str | Path, options: TagOptions = TagOptions()) -> list[TaggedSentence]:
    """Sentences of one tagging file (.conll or .jsonl), tags as written in the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file", expected=f"a path to a file of type {', '.join(TAGGED_READERS.names())}")
    if data_type(path) not in TAGGED_READERS:
        raise unknown_type(path, " for tagging", TAGGED_READERS)
    sentences = TAGGED_READERS.get(data_type(path))(path, options)
    if not sentences:
        raise DataError(path, "the file holds no sentences", expected="at least one token line")
    return sentences


@TAGGED_READERS.register("jsonl")
def read_tagged_jsonl(path: Path, options: TagOptions) -> list[TaggedSentence]:
    out = []
    for line, raw in json_records(path, JSONL_EXAMPLE):
        record = named_fields(raw, options, path, line)
        if "tokens" in record:
            fields = source_fields(raw, options, "tokens")
            tagged = _with_tags(record, None, path, line, fields.tags) if options.labelled else record
            sentence, read = _from_tokens(tagged, options.labelled, path, line, fields), "tokens"
        elif "text" in record:
            sentence = _from_text(record, options.labelled, path, line, source_fields(raw, options, "text"))
            read = "text"
        else:
            raise DataError(path, f"neither 'tokens' nor 'text' among the fields ({', '.join(record) or 'none'})",
                            line=line, expected=_named_fields_hint(options.labelled))
        if not options.labelled:  # input to tag: its other keys (ids, gold tags) go out with the predictions
            sentence = replace(sentence, others=tuple((k, v) for k, v in record.items() if k != read))
        out.append(sentence)
    return out


TAGGED_READERS.register("json")(read_tagged_jsonl)


@TAGGED_READERS.register("parquet")
def read_tagged_parquet(path: Path, options: TagOptions) -> list[TaggedSentence]:
    """Rows of ``tokens`` and tags (``tags``, or ``ner_tags`` as the Hub's NER data sets name them) of a
    Parquet or Arrow file, tag ids named by the file's ``datasets`` ClassLabel metadata; each row's number
    is its "line"."""
    table = parquet_table(path)
    words = options.words_field or "tokens"
    if words not in table.column_names:
        raise DataError(path, "not found", line=1, field=words, missing=("text",),
                        expected=f"a list of tokens per row (columns present: {', '.join(table.column_names)})")
    tags = options.tags_field or next((c for c in TAG_COLUMNS if c in table.column_names), "tags")
    names = class_names(table.schema.metadata, tags)
    out = []
    for row, raw in enumerate(table.to_pylist(), start=1):
        record = named_fields(raw, options, path, row)
        fields = source_fields(raw, options, "tokens")
        tagged = _with_tags(record, names, path, row, fields.tags) if options.labelled else record
        sentence = _from_tokens(tagged, options.labelled, path, row, fields)
        if not options.labelled:
            sentence = replace(sentence, others=tuple((k, v) for k, v in record.items() if k != "tokens"))
        out.append(sentence)
    return out


TAGGED_READERS.register("arrow")(read_tagged_parquet)  # datasets' save_to_disk


class SourceFields(NamedTuple):
    """The fields of a record that hold its words and its tags (or entity spans), as the file names them:
    what its errors name, though the reader has moved them under ctxlearn's names."""

    words: str
    tags: str


def source_fields(raw: dict[str, Any], options: TagOptions, words: str) -> SourceFields:
    """Where ``raw`` keeps its words (read under ctxlearn's ``words``: tokens or text) and their tags."""
    found = tag_column(raw) if words == "tokens" else entity_field(raw)
    default = "tags" if words == "tokens" else "entities"
    return SourceFields(options.words_field or words, options.tags_field or found or default)


def tag_column(record: dict[str, Any]) -> str | None:
    """The first of ``TAG_COLUMNS`` that ``record`` has."""
    return next((c for c in TAG_COLUMNS if c in record), None)


def _with_tags(record: dict[str, Any], names: list[str] | None, path: Path, line: int, shown: str) -> dict[str, Any]:
    """``record`` with its tags under ``tags``, read from the first of ``TAG_COLUMNS`` it has (errors name
    it ``shown``); tag ids become the tags their ClassLabel ``names`` say (a Parquet file's metadata)."""
    column = tag_column(record)
    if column is None:
        return record
    tags = record[column]
    if isinstance(tags, list) and any(isinstance(t, int) for t in tags):
        tags = _tag_names(tags, names, path, line, shown)
    return {**record, "tags": tags}


def _tag_names(ids: list, names: list[str] | None, path: Path, row: int, column: str) -> list[str]:
    """Tag ids as the tags their ClassLabel ``names`` (from the file's metadata) say they are."""
    if names is None:
        raise DataError(path, "tag ids, and the file's metadata names no tags for them", line=row, field=column,
                        expected="tags as strings (B-PER), or the Hub's file with its datasets metadata (ClassLabel)")
    bad = next((t for t in ids if not isinstance(t, int) or not 0 <= t < len(names)), None)
    if bad is not None:
        raise DataError(path, f"tag id {bad!r} names no tag", line=row, field=column,
                        expected=f"ids 0 to {len(names) - 1} ({', '.join(names)})")
    return [names[t] for t in ids]


def _strings(value: Any, path: Path, line: int, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:  # an empty one was "list instead of a list"
        found = "an empty list" if isinstance(value, list) else f"{type(value).__name__} instead of a list"
        raise DataError(path, found, line=line, field=name, expected="a non-empty list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise DataError(path, f"{item!r} is not a non-empty string", line=line, field=f"{name}[{i}]",
                            expected="a non-empty string")
    return tuple(value)


def _named_fields_hint(labelled: bool) -> str:
    """What a JSON Lines record of tagging data holds: for input to tag (predict), no tags, and no --label-field."""
    if not labelled:
        return ('{"tokens": ["Ada", "Lovelace"]} or {"text": "..."}, or the words under the field named with '
                "--text-field NAME")
    return (f"{JSONL_EXAMPLE} or {{\"text\": \"...\", \"entities\": [...]}}, or the fields named with "
            "--text-field NAME --label-field NAME (the words, and their tags)")


def _from_tokens(record: dict[str, Any], labelled: bool, path: Path, line: int,
                 fields: SourceFields) -> TaggedSentence:
    tokens = _strings(record["tokens"], path, line, fields.words)
    if not labelled:
        return TaggedSentence(tokens, (), (line,) * len(tokens))
    if "tags" not in record:
        raise DataError(path, "not found", line=line, field=fields.tags, missing=("label",),
                        expected="a list with one tag per token "
                        f"under {' or '.join(TAG_COLUMNS)}, or under the field named with --label-field NAME "
                        f"(fields present: {', '.join(map(repr, record))})")
    tags = _strings(record["tags"], path, line, fields.tags)
    if len(tags) != len(tokens):
        raise DataError(path, f"{len(tags)} tags for {len(tokens)} tokens", line=line, field=fields.tags,
                        expected=f"one tag per token of {fields.words!r}")
    return TaggedSentence(tokens, tags, (line,) * len(tokens), tags_field=fields.tags)


def _from_text(record: dict[str, Any], labelled: bool, path: Path, line: int, fields: SourceFields) -> TaggedSentence:
    text = record["text"]
    if not isinstance(text, str) or not text.strip():
        raise DataError(path, f"{text!r} is not a non-empty string", line=line, field=fields.words,
                        expected="the raw text of the sentence")
    spans = _entities(record, text, path, line, fields.tags) if labelled else []
    words = split_words(text, [c for _, s, e in spans for c in (s, e)])
    tags = ["O"] * len(words)
    for kind, start, end in spans:
        inside = [i for i, (_, s, e) in enumerate(words) if start <= s and e <= end]
        for k, i in enumerate(inside):
            tags[i] = ("B-" if k == 0 else "I-") + kind
    return TaggedSentence(tuple(w for w, _, _ in words), tuple(tags) if labelled else (), (line,) * len(words),
                          text, tuple((s, e) for _, s, e in words))


def _entities(record: dict[str, Any], text: str, path: Path, line: int, shown: str) -> list[tuple[str, int, int]]:
    """(type, start, end) of each entity, checked: in range, non-overlapping, covering a word. Errors name
    the field ``shown``, as the file names it."""
    value = record.get(entity_field(record) or "entities")
    if not isinstance(value, list):
        raise DataError(path, "missing" if value is None else f"{type(value).__name__} instead of a list",
                        line=line, field=shown, missing=("label",) if value is None else (),
                        expected='a list of {"start": 0, "end": 5, "label": "PER"}')
    spans = sorted(_entity(e, text, path, line, f"{shown}[{i}]") for i, e in enumerate(value))
    for (s1, e1, _), (s2, e2, _) in zip(spans, spans[1:]):
        if s2 < e1:
            raise DataError(path, f"entities {text[s1:e1]!r} ({s1}-{e1}) and {text[s2:e2]!r} ({s2}-{e2}) overlap",
                            line=line, field=shown, expected="entities that do not overlap")
    return [(k, s, e) for s, e, k in spans]


def _entity(value: Any, text: str, path: Path, line: int, where: str) -> tuple[int, int, str]:
    expected = '{"start": 0, "end": 5, "label": "PER"} or [0, 5, "PER"]'
    if isinstance(value, list) and len(value) == 3:
        start, end, kind = value
    elif isinstance(value, dict):  # the type under label, type, or labels (Label Studio's JSON-MIN: ["PER"])
        start, end = value.get("start"), value.get("end")
        kind = next((value[key] for key in ("label", "type", "labels") if key in value), None)
        kind = kind[0] if isinstance(kind, list) and len(kind) == 1 else kind
    else:
        raise DataError(path, f"{value!r} is not an entity", line=line, field=where, expected=expected)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        raise DataError(path, f"start {start!r} and end {end!r} are not both integers", line=line, field=where,
                        expected=f"character offsets into the text, {expected}")
    if not 0 <= start < end <= len(text):
        raise DataError(path, f"span {start}-{end} is not inside the text (length {len(text)})", line=line,
                        field=where, expected="0 <= start < end <= len(text), end exclusive")
    if not isinstance(kind, str) or not kind.strip() or kind == "O":
        raise DataError(path, f"entity type {kind!r}", line=line, field=where, expected="a type name such as PER")
    if not split_words(text[start:end]):
        raise DataError(path, f"span {start}-{end} ({text[start:end]!r}) holds no word", line=line, field=where,
                        expected="a span that covers at least one word")
    return start, end, kind


def site_of(path: str | Path, sentence: TaggedSentence) -> TagSite:
    """Where a sentence's tags are named in errors: each token's line (CoNLL), or the record's line and its
    tags field's element, tags[i] (JSON Lines, Parquet), under the name the file gives that field."""
    if sentence.tags_field is None:
        return TagSite(str(path), sentence.lines)
    return TagSite(str(path), sentence.lines, sentence.tags_field, indexed=True)


def normalise(sentences: list[TaggedSentence], scheme: str, repair: bool, path: str | Path) -> list[TaggedSentence]:
    """Sentences with BIO tags, converted from ``scheme`` and checked: an I- tag that continues no entity
    is an error naming the first and how many the file has, or (``repair``) a B-, with one warning."""
    bio = [(s, to_bio(s.tags, scheme, site_of(path, s))) for s in sentences]
    bad = [(s, tags, at) for s, tags in bio if (at := orphans(tags))]  # the sentences with orphans, and where
    if bad:
        count, (s, tags, at) = sum(len(at) for *_, at in bad), bad[0]
        if not repair:
            raise orphan_error(tags, site_of(path, s), count)
        warnings.warn(RepairedTags(str(path), count, s.lines[at[0]]), stacklevel=2)
    return [replace(s, tags=tuple(repair_bio(tags))) for s, tags in bio]


def read_bio(path: str | Path, options: TagOptions = TagOptions()) -> list[TaggedSentence]:
    """One file's sentences with BIO tags; ``options.scheme`` ``auto`` detects the file's scheme."""
    sentences = read_tagged(path, options)
    scheme = detect_scheme([s.tags for s in sentences]) if options.scheme == "auto" else options.scheme
    return normalise(sentences, scheme, options.repair, path)
