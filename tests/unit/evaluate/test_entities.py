"""Entity metrics on a hand-checked example, and the tagging report files.

Gold entities (6): PER Ada Lovelace, PER Babbage, LOC London, ORG Google, PER Bob, LOC Paris.
Predicted (6):     PER Ada (boundary wrong), PER Babbage (right), ORG London (type wrong),
                   ORG Google (right), PER "hired Bob" (boundary wrong), LOC "it" (spurious).
Right: 2 of 6 predicted, 2 of 6 gold -> precision = recall = F1 = 1/3.
PER: 1 right of 3 predicted, 3 gold -> 1/3, 1/3, 1/3. LOC: 0 right of 1 predicted, 2 gold -> 0.
ORG: 1 right of 2 predicted, 1 gold -> P 1/2, R 1, F1 2/3. Macro F1 = (1/3 + 0 + 2/3) / 3 = 1/3.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctxlearn.evaluate.entities import entity_metrics
from ctxlearn.evaluate.report import write_tagging_report

GOLD = [["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"], ["O", "O"], ["B-LOC"]]
PRED = [["B-PER", "O", "O", "B-PER", "O", "B-ORG"], ["B-ORG", "B-PER", "I-PER"], ["B-LOC", "O"], ["O"]]


def test_hand_checked_scores():
    m = entity_metrics(GOLD, PRED, ["LOC", "ORG", "PER"])
    assert (m["n"], m["entities"], m["predicted_entities"]) == (4, 6, 6)
    assert entity_metrics(GOLD, [["O"] * len(s) for s in GOLD], ["LOC", "ORG", "PER"])["predicted_entities"] == 0
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == pytest.approx(1 / 3) and m["f1"] == pytest.approx(1 / 3)
    assert m["macro_f1"] == pytest.approx(1 / 3)
    per = m["per_type"]
    assert [per["PER"][k] for k in ("precision", "recall", "f1", "support")] == pytest.approx([1 / 3, 1 / 3, 1 / 3, 3])
    assert [per["LOC"][k] for k in ("precision", "recall", "f1", "support")] == pytest.approx([0, 0, 0, 2])
    assert [per["ORG"][k] for k in ("precision", "recall", "f1", "support")] == pytest.approx([0.5, 1, 2 / 3, 1])


def test_type_confusion_pairs_overlapping_spans():
    m = entity_metrics(GOLD, PRED, ["LOC", "ORG", "PER"])
    assert m["confusion_labels"] == ["LOC", "ORG", "PER", "none"]
    assert m["confusion"] == [[0, 1, 0, 1],   # LOC: London taken for ORG; Paris missed
                              [0, 1, 0, 0],   # ORG: Google
                              [0, 0, 3, 0],   # PER: all three overlapped by a PER (two with wrong boundaries)
                              [1, 0, 0, 0]]   # spurious LOC "it"


def test_strict_mode_does_not_credit_an_orphan_i():
    """conlleval would read I-PER after O as an entity; strict BIO does not (predictions are repaired upstream)."""
    assert entity_metrics([["O", "B-PER"]], [["O", "I-PER"]], ["PER"])["f1"] == 0.0
    assert entity_metrics([["O", "B-PER"]], [["O", "B-PER"]], ["PER"])["f1"] == 1.0


def test_tagging_report_files(tmp_path: Path):
    m = entity_metrics(GOLD, PRED, ["LOC", "ORG", "PER"])
    manifest = {"method": "full", "data": "toy", "model": "tiny", "seed": 0, "task": "tagging",
                "data_sources": {"train": "ner/train.conll", "test": "ner/test.conll"},
                "data_sizes": {"train": 40, "test": 4},
                "cost": {"trainable_params": 10, "total_params": 100, "train_seconds": 1.0}}
    write_tagging_report(tmp_path, {"dev": m, "test": m}, manifest)
    assert json.loads((tmp_path / "metrics.json").read_text())["test"]["f1"] == pytest.approx(1 / 3)
    assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    report = (tmp_path / "report.md").read_text()
    assert "| test | 4 | 6 | 0.3333 | 0.3333 | 0.3333 | 0.3333 |" in report
    assert "| ORG | 0.500 | 1.000 | 0.667 | 1 |" in report and "10 of 100 (10.00%)" in report
    assert "| split | sentences | from |" in report and "| test | 4 | ner/test.conll |" in report
    assert (tmp_path / "confusion.txt").read_text().splitlines()[-1].split() == ["none", "1", "0", "0", "0"]


def test_the_tagging_report_lists_the_wrong_entities_the_model_was_surest_of(tmp_path: Path):
    """The classification report listed its surest errors, where a slip in the gold labels shows; a tagging
    report listed none, though a tagger that is wrong and sure often found an entity the annotators missed."""
    from ctxlearn.data.example import TaggedSentence
    from ctxlearn.evaluate.report import entity_errors

    words = [["Ada", "Lovelace", "met", "Babbage", "in", "London"], ["Google", "hired", "Bob"], ["it", "rains"],
             ["Paris"]]
    starts = [1, 8, 12, 15]  # CoNLL: a word a line, a blank line between sentences
    sentences = [TaggedSentence(tuple(w), tuple(g), tuple(range(s, s + len(w))))
                 for w, g, s in zip(words, GOLD, starts)]
    scores = [[0.9, 0.5, 0.99, 0.99, 0.99, 0.6], [0.99, 0.8, 0.95], [0.7, 0.99], [0.99]]
    errors, total = entity_errors(sentences, PRED, scores)
    assert total == 4  # of the 6 predicted, Babbage and Google are right
    assert [(e.line, e.gold, e.pred, e.confidence, e.text) for e in errors] == [
        (1, "PER: Ada Lovelace", "PER: Ada", 0.9, "[Ada] Lovelace met Babbage in London"),  # boundary
        (9, "PER: Bob", "PER: hired Bob", 0.8, "Google [hired Bob]"),  # its least sure word's probability
        (12, "O", "LOC: it", 0.7, "[it] rains"),  # no entity there
        (6, "LOC: London", "ORG: London", 0.6, "Ada Lovelace met Babbage in [London]")]  # type
    assert [e.line for e in entity_errors(sentences, PRED, scores, k=2)[0]] == [1, 9]
    assert entity_errors(sentences, GOLD, scores) == ([], 0)  # all right: nothing to list
    manifest = {"method": "full", "data": "toy", "model": "tiny", "seed": 0, "task": "tagging", "cost": {}}
    write_tagging_report(tmp_path, {"test": entity_metrics(GOLD, PRED, [])}, manifest, (errors[:2], total))
    report = (tmp_path / "report.md").read_text()
    assert "## Test errors, the surest first (2 of 4; all in test_predictions.jsonl)" in report
    assert "| 9 | PER: Bob | PER: hired Bob | 0.800 | Google [hired Bob] |" in report
    write_tagging_report(tmp_path, {"test": entity_metrics(GOLD, GOLD, [])}, manifest)
    assert "## Test errors" not in (tmp_path / "report.md").read_text()


def test_a_long_sentence_is_cut_around_the_wrong_entity():
    from ctxlearn.data.example import TaggedSentence
    from ctxlearn.evaluate.report import SHOWN_CHARS, entity_errors

    words = [f"w{i}" for i in range(200)]
    sentence = TaggedSentence(tuple(words), ("O",) * 200, tuple(range(1, 201)))
    pred = ["O"] * 200
    pred[120] = "B-PER"
    ((error,), _) = entity_errors([sentence], [pred], [[0.9] * 200])
    assert "[w120]" in error.text and error.text.startswith("…") and error.text.endswith("…")
    assert len(error.text) <= SHOWN_CHARS and error.line == 121
