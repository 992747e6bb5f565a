"""Writing predictions: .csv quoted, .tsv as TSV is read (no quoting), .jsonl as it is; atomically."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ctxlearn.data.readers import read_examples
from ctxlearn.predict import _write_rows

ROWS = [{"text": 'say "hi", then\tleave', "label": "pos", "p_pos": 0.75},
        {"text": "two\nlines", "label": "neg", "p_pos": 0.25}]


def test_tsv_reads_back_as_written_with_quotes_kept_and_tabs_and_breaks_as_spaces(tmp_path: Path, capsys) -> None:
    dst = tmp_path / "pred.tsv"
    _write_rows(dst, ROWS)
    back = read_examples(dst)
    assert [(e.text, e.label) for e in back] == [('say "hi", then leave', "pos"), ("two lines", "neg")]
    assert dst.read_text().splitlines()[0] == "text\tlabel\tp_pos"
    assert "2 values held tabs or line breaks" in capsys.readouterr().err


def test_csv_and_jsonl_keep_the_text_as_it_is(tmp_path: Path, capsys) -> None:
    _write_rows(tmp_path / "pred.csv", ROWS)
    _write_rows(tmp_path / "pred.jsonl", ROWS)
    with (tmp_path / "pred.csv").open(newline="") as fh:
        assert [r["text"] for r in csv.DictReader(fh)] == [r["text"] for r in ROWS]
    assert [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()] == ROWS
    assert capsys.readouterr().err == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.csv", "pred.jsonl"]  # no temporary file left


@pytest.mark.parametrize("name", ["pred.tsv", "pred.csv"])
def test_a_file_without_text_to_clean_is_written_silently(tmp_path: Path, capsys, name: str) -> None:
    _write_rows(tmp_path / name, [{"text": "plain", "label": "x"}])
    assert capsys.readouterr().err == ""
