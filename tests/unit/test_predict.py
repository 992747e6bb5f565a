"""Writing predictions: .csv quoted, .tsv as TSV is read (no quoting), .jsonl as it is; atomically."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ctxlearn.cli import main
from ctxlearn.data.example import Example, Fields
from ctxlearn.data.readers import read_examples
from ctxlearn.errors import DataError
from ctxlearn.predict import open_predictor, read_unlabelled, write_rows

ROWS = [{"text": 'say "hi", then\tleave', "label": "pos", "p_pos": 0.75},
        {"text": "two\nlines", "label": "neg", "p_pos": 0.25}]


def test_tsv_reads_back_as_written_with_quotes_kept_and_tabs_and_breaks_as_spaces(tmp_path: Path, capsys) -> None:
    dst = tmp_path / "pred.tsv"
    write_rows(dst, ROWS)
    back = read_examples(dst)
    assert [(e.text, e.label) for e in back] == [('say "hi", then leave', "pos"), ("two lines", "neg")]
    assert dst.read_text().splitlines()[0] == "text\tlabel\tp_pos"
    assert "2 values held tabs or line breaks" in capsys.readouterr().err


def test_csv_and_jsonl_keep_the_text_as_it_is(tmp_path: Path, capsys) -> None:
    write_rows(tmp_path / "pred.csv", ROWS)
    write_rows(tmp_path / "pred.jsonl", ROWS)
    with (tmp_path / "pred.csv").open(newline="") as fh:
        assert [r["text"] for r in csv.DictReader(fh)] == [r["text"] for r in ROWS]
    assert [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()] == ROWS
    assert capsys.readouterr().err == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.csv", "pred.jsonl"]  # no temporary file left


@pytest.mark.parametrize("name", ["pred.tsv", "pred.csv"])
def test_a_file_without_text_to_clean_is_written_silently(tmp_path: Path, capsys, name: str) -> None:
    write_rows(tmp_path / name, [{"text": "plain", "label": "x"}])
    assert capsys.readouterr().err == ""


def test_dash_writes_json_lines_to_standard_output_and_no_file(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_rows(Path("-"), ROWS)
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == ROWS
    assert list(tmp_path.iterdir()) == []


def test_a_classifier_labels_a_txt_file_one_text_per_line(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """`predict --input texts.txt` was refused ("unknown file type '.txt'") though tagging runs took it."""
    src = tmp_path / "texts.txt"
    src.write_text("good great film\n\nawful sad plot\n")
    assert main(["predict", str(tiny_run), "--input", str(src), "--output", "-"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["line"], r["text"]) for r in rows] == [(1, "good great film"), (3, "awful sad plot")]
    probs = open_predictor(tiny_run).predict_proba([Example("good great film", ""), Example("awful sad plot", "")])
    assert [r["p_positive"] for r in rows] == pytest.approx(probs[:, 1].tolist(), abs=1e-6)


def test_a_pair_model_refuses_a_txt_file_naming_its_fields(tmp_path: Path) -> None:
    src = tmp_path / "texts.txt"
    src.write_text("a premise alone\n")
    with pytest.raises(DataError, match="this model reads pairs.*'premise' and 'hypothesis'"):
        read_unlabelled(src, Fields("premise", None, "hypothesis"))
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n")
    with pytest.raises(DataError, match="holds no text"):
        read_unlabelled(blank, Fields())


def test_dash_reads_texts_from_standard_input(tiny_run: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("good great film\n\nawful sad plot"))
    assert main(["predict", str(tiny_run), "--input", "-", "--output", "-"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["line"], r["text"]) for r in rows] == [(1, "good great film"), (3, "awful sad plot")]
