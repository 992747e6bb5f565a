"""Classification inputs: truncated, or read whole in overlapping windows whose outputs are averaged."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from ctxlearn.data.example import Example
from ctxlearn.errors import ConfigError
from ctxlearn.train.encode import EncodedTexts, encode

LONG = " ".join(["the movie was really very good and the story"] * 4)  # 36 words, one token each


@pytest.fixture(scope="module")
def tok(tiny_bert: Path):
    return AutoTokenizer.from_pretrained(tiny_bert)


def _content(tok, row: dict) -> list[int]:
    return [i for i in row["input_ids"] if i not in tok.all_special_ids]


def test_texts_that_fit_are_encoded_alike_either_way(tok) -> None:
    examples = [Example("good movie", "positive"), Example("the plot was sad", "negative")]
    cut, whole = (encode(examples, tok, ["negative", "positive"], 16, how) for how in ("truncate", "windows"))
    assert whole.rows == cut.rows and not whole.windowed
    logits = np.random.default_rng(0).normal(size=(2, 2)).astype(np.float32)
    assert whole.per_text(logits) is logits


def test_a_long_text_is_read_whole_in_windows_overlapping_by_half(tok) -> None:
    data = encode([Example("good", "positive"), Example(LONG, "negative")], tok, ["negative", "positive"], 16, "windows")
    tokens = tok(LONG, add_special_tokens=False)["input_ids"]
    windows = [_content(tok, r) for r in data.rows[1:]]
    assert data.text_of.tolist() == [0] + [1] * len(windows) and data.n_texts == 2
    assert all(len(r["input_ids"]) <= 16 for r in data.rows)
    assert windows[0] == tokens[:14] and windows[1][:7] == tokens[7:14]  # 14 a window, 7 shared with the next
    read = [t for w in windows for t in w[7 * (w is not windows[0]):]]
    assert read == tokens  # every token, in order, nothing lost
    assert [r["labels"] for r in data.rows] == [1] + [0] * len(windows)
    assert data.text_labels().tolist() == [1, 0]
    assert data.weights[1:].tolist() == [len(w) for w in windows]
    truncated = encode([Example(LONG, "negative")], tok, None, 16)
    assert len(truncated) == 1 and _content(tok, truncated.rows[0]) == tokens[:14]


def test_a_pair_keeps_its_second_text_whole_in_every_window(tok) -> None:
    hyp = "the plot was good"
    data = encode([Example(LONG, "negative", text_pair=hyp)], tok, None, 24, "windows")
    second = tok(hyp, add_special_tokens=False)["input_ids"]
    assert len(data) > 1
    for row in data.rows:
        assert len(row["input_ids"]) <= 24 and _content(tok, row)[-len(second):] == second
        assert row["token_type_ids"].count(1) == len(second) + 1  # and its [SEP]
    assert data.weights.tolist() == [len(_content(tok, r)) - len(second) for r in data.rows]  # the first text's tokens


def test_a_pair_whose_second_text_leaves_no_room_is_truncated_as_before(tok) -> None:
    examples = [Example("good film", "positive", text_pair=LONG)]
    assert encode(examples, tok, None, 24, "windows").rows == encode(examples, tok, None, 24).rows


def test_windows_average_by_the_tokens_each_holds_and_a_lone_row_is_kept_exactly() -> None:
    rows = [{"input_ids": [0]}] * 4
    data = EncodedTexts(rows, np.array([0, 1, 1, 2]), np.array([5.0, 3.0, 1.0, 7.0]), 3)
    per_row = np.array([[0.1, 0.7], [1.0, 2.0], [5.0, -2.0], [0.3, 0.3]], dtype=np.float32)
    out = data.per_text(per_row)
    assert out.dtype == np.float32 and np.array_equal(out[[0, 2]], per_row[[0, 3]])
    assert out[1] == pytest.approx([(3 * 1.0 + 5.0) / 4, (3 * 2.0 - 2.0) / 4])


def test_an_unknown_way_of_reading_long_inputs_is_refused(tok) -> None:
    with pytest.raises(ConfigError, match="a split is read one of truncate, windows ways, not 'chunks'"):
        encode([Example("good", "positive")], tok, None, 16, "chunks")
