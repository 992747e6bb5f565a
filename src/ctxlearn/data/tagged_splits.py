"""Tagging data (a file or a folder of train/dev/test files) -> checked BIO splits with content hashes;
and telling tagging data from classification data."""
from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from ctxlearn.data.example import TaggedSentence, case_twin
from ctxlearn.data.folders import data_folder_files, find_split_files, read_split, split_source
from ctxlearn.data.parquet import TABLE_TYPES, list_columns
from ctxlearn.data.readers import READERS, data_type, json_records
from ctxlearn.data.splits import (check_cut, check_shares_leave_train, cut_source, distinct, fold_out, refuse_test_file,
                                  seeded_cut, share)
from ctxlearn.data.tagged import TAGGED_READERS, TagOptions, entity_field, normalise, read_tagged
from ctxlearn.data.tags import bio_labels, detect_scheme, entity_spans
from ctxlearn.errors import DataError

TAGGING_SUFFIXES = ("conll",)  # JSON Lines are tagging data when their first record has tokens or entities


@dataclass
class TaggedSplits:
    """Like ``Splits``: train/dev/test sentences (BIO tags), the model's BIO labels, the entity types and
    the scheme the files were written in."""

    train: list[TaggedSentence]
    dev: list[TaggedSentence]
    test: list[TaggedSentence]
    labels: list[str]
    scheme: str
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def types(self) -> list[str]:
        return sorted({lab[2:] for lab in self.labels if lab != "O"})

    def cap_train(self, n: int, seed: int) -> "TaggedSplits":
        """At most ``n`` training sentences, a seeded random sample in file order (dev and test unchanged)."""
        if not n or n >= len(self.train):
            return self
        keep = sorted(random.Random(seed).sample(range(len(self.train)), n))
        sources = {**self.sources, "train": f"{n} of {self.sources.get('train', 'train')} (random, seed {seed})"}
        return TaggedSplits([self.train[i] for i in keep], self.dev, self.test, self.labels, self.scheme, sources)

    @cached_property
    def hashes(self) -> dict[str, str]:
        return {name: tagged_hash(getattr(self, name)) for name in ("train", "dev", "test")}


def tagged_hash(sentences: list[TaggedSentence]) -> str:
    """sha256 of tokens and tags (not file bytes), so reformatting a file keeps the hash."""
    h = hashlib.sha256()
    for s in sentences:
        h.update(json.dumps([s.tokens, s.tags], ensure_ascii=False).encode() + b"\n")
    return h.hexdigest()


def is_tagging_data(spec: str, text_field: str = "text", label_field: str = "label") -> bool:
    """True for a .conll file, a folder whose train file is .conll, JSON Lines whose records have
    ``tokens`` or entities (``tagged_record``), or a Parquet file with a ``tokens`` list column; a
    ``text_field`` holding a list of tokens, or a ``label_field`` holding entity spans, is tagging data too."""
    return data_task(spec, text_field, label_field) == "tagging"


def data_task(spec: str, text_field: str = "text", label_field: str = "label") -> str | None:
    """"tagging" or "classification": the task data is for (as ``is_tagging_data`` tells them), or None
    where it cannot tell (a file missing, unreadable or of an unknown type, JSON with no deciding record):
    reading the data then says what is wrong."""
    if spec.startswith("builtin:"):
        return "classification"
    path = Path(spec)
    if path.is_dir():
        path = find_split_files(path, (*TAGGING_SUFFIXES, *READERS.names())).get("train", [path])[0]
    suffix = data_type(path)
    if suffix in TAGGING_SUFFIXES:
        return "tagging"
    if not path.is_file() or suffix not in READERS:
        return None
    try:
        if suffix in TABLE_TYPES:
            tokens = {"tokens", text_field} & set(list_columns(path))  # the footer only
            return "tagging" if tokens else "classification"
        if suffix in ("jsonl", "json"):
            records = (tagged_record(record, text_field, label_field) for _, record in json_records(path))
            found = next((f for f in records if f is not None), None)
            return {True: "tagging", False: "classification", None: None}[found]
    except DataError:  # reading it says what is wrong, and where
        return None
    return "classification"  # CSV and TSV


def tagged_record(record: dict[str, Any], text_field: str = "text", label_field: str = "label") -> bool | None:
    """Whether a JSON record is tagging data (tokens, or entities), classification data (a class label), or
    None when it cannot tell: doccano's empty label list, an unannotated text in either task's export (a
    text with no label at all, which a tagging run's eval took for classification data)."""
    if "tokens" in record or "entities" in record or isinstance(record.get(text_field), list):
        return True
    field = entity_field(record, label_field)  # doccano's label or labels (or the one named), holding spans
    if field is None:
        return False if label_field in record else None
    return True if record[field] else None


def load_tagged_splits(spec: str, options: TagOptions = TagOptions(), *, seed: int = 0, dev_fraction: float = 0.1,
                       test_fraction: float = 0.1, folds: int = 0, fold: int = 0) -> TaggedSplits:
    """Read every split file, detect the scheme over all of them (unless given), convert to BIO and
    check; missing dev/test splits are cut from train at random, seeded, leaving every entity type in train.
    With ``folds``, the test split is instead fold ``fold`` of that many folds of the file, each sentence dealt
    to them with the others of its rarest entity type (``fold_out``)."""
    raw = _read_files(Path(spec), options)
    scheme = options.scheme
    if scheme == "auto":
        scheme = detect_scheme([s.tags for sentences, _ in raw.values() for s in sentences])
    parts = {split: normalise(sentences, scheme, options.repair, src) for split, (sentences, src) in raw.items()}
    sources = {split: src for split, (_, src) in raw.items()}
    n_file = len(parts["train"])  # dev is a share of the file, as its source says, not of what test left
    check_shares_leave_train(raw, dev_fraction, test_fraction, folds)
    if folds:
        refuse_test_file(sources.get("test", ""), folds)
        parts["train"], parts["test"], sources["test"] = fold_out(parts["train"], (folds, fold), seed,
                                                                  sources["train"], lambda s: s.tokens,
                                                                  kinds=_sentence_types)
    for split, fraction in (("test", test_fraction), ("dev", dev_fraction)):
        if split not in parts:
            n_cut = max(1, round(fraction * n_file)) if fraction else 0
            firsts, with_copies = distinct(parts["train"], lambda s: s.tokens)  # copies of a sentence stay together
            together = "; copies of a sentence kept together" if len(firsts) < len(parts["train"]) else ""
            n_firsts = share(n_cut, len(firsts), len(parts["train"]))
            keep, cut = seeded_cut(firsts, n_firsts, seed, _sentence_types)
            check_cut(cut, n_firsts, split, sources["train"], "sentences", "entity type")
            parts["train"], parts[split] = with_copies(keep), with_copies(cut)
            sources[split] = cut_source(split, fraction, sources["train"], f"random, seed {seed}{together}")
    types = _types(parts, sources)
    return TaggedSplits(parts["train"], parts["dev"], parts["test"], bio_labels(types), scheme, sources)


def _read_files(path: Path, options: TagOptions) -> dict[str, tuple[list[TaggedSentence], str]]:
    if path.is_dir():
        files = data_folder_files(path, TAGGED_READERS)
        return {split: (_read_split(paths, options), split_source(paths)) for split, paths in files.items()}
    return {"train": (read_tagged(path, options), str(path))}


def _read_split(files: list[Path], options: TagOptions) -> list[TaggedSentence]:
    return read_split(files, lambda path: read_tagged(path, options), lambda s: s.lines[-1],
                      lambda s, offset: replace(s, lines=tuple(line + offset for line in s.lines)))


def _types(parts: dict[str, list[TaggedSentence]], sources: dict[str, str]) -> set[str]:
    """Entity types of train; a type seen only in dev or test is an error (the model could never learn it)."""
    counts = {split: Counter(kind for s in sents for kind, _, _ in entity_spans(s.tags)) for split, sents in parts.items()}
    if not counts["train"]:
        field = parts["train"][0].tags_field if parts["train"] else None
        raise DataError(sources["train"], "no entity in the training data (every tag is O)", field=field or "tag",
                        expected="at least one B- or I- tag")
    for split in ("dev", "test"):
        unseen = sorted(set(counts[split]) - set(counts["train"]))
        if unseen:
            first = next(s for s in parts[split] if any(k == unseen[0] for k, _, _ in entity_spans(s.tags)))
            raise DataError(sources[split], f"entity type {unseen[0]!r} never occurs in train"
                            f"{case_twin(unseen[0], counts['train'])}", line=first.line or None,
                            field=first.tags_field or "tag", expected=f"one of {sorted(counts['train'])}")
    return set(counts["train"])


def _sentence_types(sentence: TaggedSentence) -> list[str]:
    return [kind for kind, _, _ in entity_spans(sentence.tags)]
