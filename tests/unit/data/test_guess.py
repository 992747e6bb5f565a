"""Guessing a file's text and label columns from their values, for the error a file gets when its fields
are not found."""
from __future__ import annotations

from ctxlearn.data.guess import field_flags, likely_fields, score_columns

REVIEWS = [{"id": str(i), "title": "Fine", "review": f"a film I would see again {i}", "stars": str(1 + i % 5),
            "sentiment": "pos" if i % 2 else "neg"} for i in range(20)]


def test_the_text_is_the_column_of_most_words_and_the_label_the_one_of_fewest_classes():
    assert likely_fields(REVIEWS, ["text", "label"]) == {"text": "review", "label": "sentiment"}


def test_only_the_roles_asked_for_are_guessed_and_named_columns_are_not_taken():
    assert likely_fields(REVIEWS, ["label"]) == {"label": "sentiment"}
    words = [{"comment": "ok then", "code": "x", "verdict": "ok"}, {"comment": "no way", "code": "y", "verdict": "no"},
             {"comment": "ok then", "code": "x", "verdict": "ok"}, {"comment": "no way", "code": "y", "verdict": "no"}]
    assert likely_fields(words, ["label"], taken={"comment"}) == {"label": "code"}  # the first of equals
    assert likely_fields(words, ["text", "label"]) == {"text": "comment", "label": "code"}


def test_ids_numbers_and_columns_with_gaps_are_not_guessed():
    ids = [{"id": str(i), "score": f"{i / 7:.3f}", "note": f"row {i}" if i % 3 else ""} for i in range(12)]
    assert likely_fields(ids, ["text", "label"]) == {}  # unique ids, float scores, a column with empty cells
    assert likely_fields([], ["text", "label"]) == {}
    assert likely_fields([{"id": "1", "t": "a b"}, {"id": "2", "t": "c d"}], ["label"]) == {}  # no value repeats


def test_json_values_that_are_not_text_are_labels_but_not_texts():
    records = [{"body": "this is long text", "flag": i % 2 == 0, "n": i % 3} for i in range(10)]
    assert likely_fields(records, ["text", "label"]) == {"text": "body", "label": "flag"}


def test_a_pairs_two_texts_are_the_two_columns_of_most_words_in_the_files_order():
    """Only --text-field was offered for a pair model's file of s1 and s2, and as a flag to copy it fell short."""
    pairs = [{"id": str(i), "s1": f"a long premise of many words {i}", "s2": f"a hypothesis {i}",
              "gold": "yes" if i % 2 else "no"} for i in range(10)]
    assert likely_fields(pairs, ["text", "text_pair"]) == {"text": "s1", "text_pair": "s2"}
    flipped = [{"s2": r["s2"], "s1": r["s1"]} for r in pairs]  # the file's first text column is the text
    assert likely_fields(flipped, ["text", "text_pair"]) == {"text": "s2", "text_pair": "s1"}
    assert likely_fields(pairs, ["text_pair"], taken={"s1"}) == {"text_pair": "s2"}
    assert likely_fields(pairs, ["text", "text_pair", "label"])["label"] == "gold"
    words = [{"text": f"one text {i}", "verdict": "yes words" if i % 2 else "no words"} for i in range(10)]
    assert likely_fields(words, ["text", "text_pair"]) == {}  # a column of repeating classes is no pair's text
    assert field_flags({"text": "s1", "text_pair": "s2"}) == "--text-field s1 --text-pair-field s2"


def test_flags_are_quoted_for_a_shell():
    assert field_flags({"text": "review", "label": "my label"}) == "--text-field review --label-field 'my label'"
    assert field_flags({}) == ""


def test_a_text_column_with_empty_cells_is_guessed_where_the_reader_skips_them():
    """A pretraining corpus skips its blank rows, so a column with gaps is still its text."""
    rows = [{"id": str(i), "body": f"a sentence of words {i}" if i % 3 else ""} for i in range(12)]
    assert likely_fields(rows, ["text"]) == {}
    assert likely_fields(rows, ["text"], gaps=True) == {"text": "body"}
    assert likely_fields([{"id": "1", "body": ""}], ["text"], gaps=True) == {}  # nothing but gaps


def test_a_column_of_scores_is_told_apart_from_ids_stars_and_classes():
    rows = [{"id": str(i), "stars": str(1 + i % 5), "rating": f"{i / 7 - 2:.3f}", "mood": "up" if i % 2 else "down"}
            for i in range(30)]
    assert score_columns(rows) == {"rating": [f"{i / 7 - 2:.3f}" for i in range(30)]}
    assert score_columns(rows, taken={"rating"}) == {}
    assert score_columns(rows[:20]) == {}  # 20 numbers could be classes still, as the label check counts them
