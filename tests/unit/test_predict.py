"""Writing predictions: .csv quoted, .tsv as TSV is read (no quoting), .jsonl as it is; atomically."""
from __future__ import annotations

import csv
import datetime
import io
import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from conftest import write_parquet

from ctxlearn.cli import main
from ctxlearn.data.example import Example, Fields
from ctxlearn.data.readers import read_examples
from ctxlearn.data.splits import load_splits
from ctxlearn.errors import ConfigError, DataError
from ctxlearn.predict import open_predictor, read_unlabelled, write_rows
from ctxlearn.predict_tagging import read_unlabelled as read_sentences

ROWS = [{"text": 'say "hi", then\tleave', "label": "pos", "p_pos": 0.75},
        {"text": "two\nlines", "label": "neg", "p_pos": 0.25}]


def test_tsv_reads_back_as_written_with_quotes_kept_and_tabs_and_breaks_as_spaces(tmp_path: Path, capsys) -> None:
    dst = tmp_path / "pred.tsv"
    write_rows(dst, ROWS)
    back = read_examples(dst)
    assert [(e.text, e.label) for e in back] == [('say "hi", then leave', "pos"), ("two lines", "neg")]
    assert dst.read_text().splitlines()[0] == "text\tlabel\tp_pos"
    assert "2 values held tabs or line breaks" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_a_table_has_every_rows_columns_when_rows_differ(tmp_path: Path, suffix: str) -> None:
    """JSON Lines input with an `id` in its second row only: the CSV writer took the first row's columns
    and failed after the labelling was done, leaving a temporary file behind."""
    rows = [{"line": 1, "text": "a", "label": "x", "p_x": 0.5},
            {"line": 2, "id": 7, "text": "b", "source": "web", "label": "y", "p_x": 0.25}]
    dst = tmp_path / f"pred{suffix}"
    write_rows(dst, rows)
    with dst.open(newline="") as fh:
        back = list(csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ","))
    assert list(back[0]) == ["line", "id", "text", "source", "label", "p_x"]  # inputs before the predictions
    assert back == [{"line": "1", "id": "", "text": "a", "source": "", "label": "x", "p_x": "0.5"},
                    {"line": "2", "id": "7", "text": "b", "source": "web", "label": "y", "p_x": "0.25"}]
    assert [p.name for p in tmp_path.iterdir()] == [dst.name]


def test_a_write_that_fails_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    import ctxlearn.predict as predict

    def broken(fh, rows, dst, suffix):
        fh.write("half")
        raise OSError("disk full")

    monkeypatch.setattr(predict, "_write", broken)
    with pytest.raises(OSError, match="disk full"):
        write_rows(tmp_path / "pred.csv", ROWS)
    assert list(tmp_path.iterdir()) == []


def test_an_input_column_is_never_hidden_under_a_name_the_output_gives_another(tiny_run: Path, tmp_path: Path) -> None:
    """An input with `label` and `input_label` columns: its `label` came out as `input_label`, and the
    input's own `input_label` values were lost."""
    src = tmp_path / "in.csv"
    src.write_text("text,label,input_label,text_pair_note\ngood great film,positive,mine,n\n")
    assert main(["predict", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "out.jsonl")]) == 0
    row = json.loads((tmp_path / "out.jsonl").read_text())
    assert (row["input_input_label"], row["input_label"], row["text_pair_note"]) == ("positive", "mine", "n")
    assert row["label"] in ("positive", "negative")


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


def test_the_input_file_as_output_is_refused_and_left_as_it_was(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """--output named the --input file, and the texts were replaced by their predictions."""
    src = tmp_path / "in.csv"
    src.write_text("text\ngood great film\n")
    (tmp_path / "link.csv").symlink_to(src)
    for dst in (src, tmp_path / "." / "in.csv", tmp_path / "link.csv"):
        assert main(["predict", str(tmp_path / "not-a-run"), "--input", str(src), "--output", str(dst)]) == 2
        assert "is the --input file" in capsys.readouterr().err  # said before the (missing) run is opened
    assert src.read_text() == "text\ngood great film\n"
    assert main(["predict", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "out.csv")]) == 0
    assert "wrote 1 prediction to" in capsys.readouterr().err


def test_predictions_carry_the_input_rows_other_columns(tiny_run: Path, tmp_path: Path) -> None:
    """An id column was dropped, so predictions could be matched to their inputs only by line number."""
    src = tmp_path / "in.csv"
    src.write_text('id,text,p_positive,note\nA7,good great film,0.5,x\nB9,"awful, sad plot",,\n')
    dst = tmp_path / "out.csv"
    assert open_predictor(tiny_run).predict_file(src, dst) == 2
    with dst.open(newline="") as fh:
        out = list(csv.DictReader(fh))
    assert list(out[0]) == ["line", "id", "input_p_positive", "note", "text", "label", "p_negative", "p_positive"]
    assert [(r["id"], r["input_p_positive"], r["note"], r["text"]) for r in out] == [
        ("A7", "0.5", "x", "good great film"), ("B9", "", "", "awful, sad plot")]
    assert float(out[0]["p_positive"]) == pytest.approx(float(open_predictor(tiny_run).predict_texts(
        ["good great film"])[0]["p_positive"]), abs=1e-6)


@pytest.mark.parametrize("output", ["out.jsonl", "out.json", "out.csv"])
def test_parquet_columns_of_dates_decimals_and_bytes_are_written_as_text(tiny_run: Path, tmp_path: Path,
                                                                         output: str) -> None:
    """A date column crashed predict's JSON output: `Object of type date is not JSON serializable`."""
    src = write_parquet(tmp_path / "in.parquet", {
        "text": ["good great film", "awful sad plot"], "sent": [datetime.date(2024, 1, 2)] * 2,
        "at": [datetime.datetime(2024, 1, 2, 3, 4, 5)] * 2, "price": [Decimal("1.50"), None],
        "raw": [b"ok", b"\xff"], "tags": [[datetime.date(2024, 5, 6)], []]})
    predictor = open_predictor(tiny_run)
    predictor.part = 1  # in parts, kept as JSON Lines whatever the output
    assert predictor.predict_file(src, tmp_path / output) == 2
    if output == "out.csv":
        with (tmp_path / output).open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [(r["sent"], r["price"], r["raw"]) for r in rows] == [("2024-01-02", "1.50", "ok"),
                                                                    ("2024-01-02", "", "\\xff")]
        return
    text = (tmp_path / output).read_text()
    rows = json.loads(text) if output == "out.json" else [json.loads(line) for line in text.splitlines()]
    assert [(r["sent"], r["at"], r["price"], r["raw"], r["tags"]) for r in rows] == [
        ("2024-01-02", "2024-01-02T03:04:05", "1.50", "ok", ["2024-05-06"]), ("2024-01-02", "2024-01-02T03:04:05",
                                                                            None, "\\xff", [])]


def test_skip_empty_labels_the_rows_with_text_and_names_the_lines_it_left_out(tiny_run: Path, tmp_path: Path,
                                                                              capsys) -> None:
    """One empty cell in a file of texts to label stopped the whole file; --skip-empty labels the rest."""
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("id,text\nA,good great film\nB,\nC,awful sad plot\nD,\" \"\n")
    assert main(["predict", str(tiny_run), "--input", str(src), "--output", str(dst)]) == 2
    err = capsys.readouterr().err
    assert "in.csv:3: field 'text': empty text; expected a non-empty string (or pass --skip-empty" in err
    assert not dst.exists()
    assert main(["predict", str(tiny_run), "--input", str(src), "--output", str(dst), "--skip-empty"]) == 0
    assert "left out 2 rows without text (lines 3, 5); the output has no row for them" in capsys.readouterr().err
    with dst.open(newline="") as fh:
        assert [(r["line"], r["id"]) for r in csv.DictReader(fh)] == [("2", "A"), ("4", "C")]
    jsonl = tmp_path / "in.jsonl"  # a null, and a later record without the key, have no text either
    jsonl.write_text('{"text": "good great film"}\n{"text": null}\n{"id": 3}\n{"text": "awful sad plot"}\n')
    assert [r.line for r in read_unlabelled(jsonl, Fields(label=None), skip_empty=True)] == [1, 4]
    assert "left out 2 rows without text (lines 2, 3)" in capsys.readouterr().err
    with pytest.raises(DataError, match="in.jsonl:2: field 'text': missing; .*--skip-empty"):
        read_unlabelled(jsonl, Fields(label=None))
    jsonl.write_text('{"text": ""}\n{"text": null}\n')
    with pytest.raises(DataError, match="no row has text"):
        read_unlabelled(jsonl, Fields(label=None), skip_empty=True)
    pairs = tmp_path / "pairs.csv"  # either side of a pair empty leaves the row out
    pairs.write_text("premise,hypothesis\na,b\na,\n,b\n")
    assert [r.line for r in read_unlabelled(pairs, Fields("premise", None, "hypothesis"), skip_empty=True)] == [2]


def test_predict_and_eval_warn_of_texts_read_only_to_their_start(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """A text past the run's max_length was labelled by its first 128 tokens without a word."""
    long = " ".join(["good film"] * 100)  # 200 words: over 128 tokens
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(f"text,label\n{long},positive\nawful sad plot,negative\nbad movie,negative\n")
    assert main(["predict", str(tiny_run), "--input", str(src), "--output", str(dst)]) == 0
    assert (f"{src}: 1 of 3 texts (33.3%) is longer than the run's max_length of 128 tokens and is read to its start "
            "only; --long-inputs windows reads them whole") in capsys.readouterr().err
    assert main(["eval", str(tiny_run), "--data", str(src), "--json"]) == 0
    said = capsys.readouterr()
    assert "1 of 3 texts (33.3%) is longer" in said.err and json.loads(said.out)["long_inputs"] == "truncate"
    assert main(["eval", str(tiny_run), "--data", str(src), "--json", "--long-inputs", "windows"]) == 0
    assert json.loads(capsys.readouterr().out)["long_inputs"] == "windows"  # --json did not say how texts were read
    assert main(["eval", str(tiny_run), "--data", str(src), "--long-inputs", "windows"]) == 0
    assert "texts longer than the run's max_length of 128 tokens were read in windows\n" in capsys.readouterr().out
    predictor = open_predictor(tiny_run)  # export times repeated passes of this: no tokenising twice, no warning
    predictor.evaluate_examples(read_examples(src, predictor.fields), str(src))
    assert "longer than" not in capsys.readouterr().err
    assert main(["predict", str(tiny_run), "--input", str(src), "--output", str(dst), "--long-inputs", "windows"]) == 0
    assert "longer than" not in capsys.readouterr().err
    src.write_text("text\nawful sad plot\n")
    assert main(["predict", str(tiny_run), "--input", str(src), "--output", str(dst)]) == 0
    assert "longer than" not in capsys.readouterr().err


def test_eval_on_the_rows_a_run_trained_on_says_so(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """`eval --data sst2/train.jsonl` (the wrong file of the folder) scored the rows the run had learnt, and
    their flattering accuracy came without a word."""
    data = Path(json.loads((tiny_run / "manifest.json").read_text())["data"])
    assert main(["eval", str(tiny_run), "--data", str(data / "train.jsonl")]) == 0
    assert (f"warning: {data / 'train.jsonl'}: 160 of 160 examples (100.0%) are ones the run trained on (the train "
            f"split of {data}); scores on them flatter it: score a held-out file, or --data {data} for the run's "
            "test split") in capsys.readouterr().err
    rows = (data / "train.jsonl").read_text().splitlines()[:4] + (data / "test.jsonl").read_text().splitlines()
    (tmp_path / "some.jsonl").write_text("\n".join(rows) + "\n")  # 4 of 44, 9.1%: still said
    assert main(["eval", str(tiny_run), "--data", str(tmp_path / "some.jsonl"), "--out", str(tmp_path / "ev")]) == 0
    said = "4 of 44 examples (9.1%) are ones the run trained on"
    assert said in capsys.readouterr().err
    # and kept where the score is read later: eval.json and the report (it went to the terminal alone)
    (note,) = json.loads((tmp_path / "ev" / "eval.json").read_text())["warnings"]
    report = (tmp_path / "ev" / "report.md").read_text()
    assert said in note and f"## Warnings (1, given during scoring)\n\n- {note}\n" in report
    rows = (data / "train.jsonl").read_text().splitlines()[:1] + (data / "test.jsonl").read_text().splitlines()
    (tmp_path / "one.jsonl").write_text("\n".join(rows) + "\n")  # 1 of 41: a copy, as real test sets hold
    for held_out in (tmp_path / "one.jsonl", data / "test.jsonl", data):
        assert main(["eval", str(tiny_run), "--data", str(held_out)]) == 0
        assert "trained on" not in capsys.readouterr().err


def test_eval_on_a_data_folder_whose_test_file_changed_since_the_run_says_so(tiny_bert: Path, toy_data: Path,
                                                                           tmp_path: Path, capsys) -> None:
    """The folder's test.jsonl edited after training: eval scored the new file, and its score differed from
    report.md's without a word of why."""
    run = tmp_path / "run"
    assert main(["train", "--data", str(toy_data), "--model", str(tiny_bert), "--method", "head", "--out", str(run),
                 "--bf16", "off"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(toy_data)]) == 0
    assert "changed" not in capsys.readouterr().err
    test = toy_data / "test.jsonl"
    test.write_text("".join(test.read_text().splitlines(keepends=True)[:30]))
    assert main(["eval", str(run), "--data", str(toy_data)]) == 0
    assert (f"warning: {test}: the test split has changed since {run} was trained on it (30 examples now, 40 then), "
            "so its scores differ from the run's report.md") in capsys.readouterr().err


def test_eval_cuts_the_file_of_a_run_saved_before_case_variants_were_cut_together_as_that_run_did(
        tiny_bert: Path, toy_data: Path, tmp_path: Path, capsys) -> None:
    """Runs saved before cuts kept texts differing only in case or spacing together hashed splits cut by the
    texts as written: eval of their file must cut it so again to find their test split, not score every row."""
    rows = [json.loads(line) for s in ("train", "dev", "test") for line in (toy_data / f"{s}.jsonl").open()]
    rows += [{**r, "text": r["text"].upper()} for r in rows[::4]]  # a variant of every fourth text
    whole = tmp_path / "all.jsonl"
    whole.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = tmp_path / "run"
    assert main(["train", "--data", str(whole), "--model", str(tiny_bert), "--method", "head", "--out", str(run),
                 "--bf16", "off"]) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest.pop("split_copies") == "folded"
    before = load_splits(str(whole), copies="exact")  # the cut such a run made and hashed
    assert before.hashes["test"] != manifest["data_sha256"]["test"]
    (run / "manifest.json").write_text(json.dumps({**manifest, "data_sha256": before.hashes}))
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(whole), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["test_n"] == len(before.test) < len(rows) // 5
    assert f"all.jsonl is the file this run was trained on; scoring its test split ({len(before.test)} rows" \
        in captured.err


def test_an_output_type_it_cannot_write_is_refused_before_labelling(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """--output preds.xlsx wrote JSON Lines under the spreadsheet's name, which Excel then failed to open."""
    src = tmp_path / "texts.txt"
    src.write_text("good great film\n")
    assert main(["predict", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "preds.xlsx")]) == 2
    assert re.search(r"preds.xlsx: cannot write predictions as '.xlsx'.*\.csv, \.tsv, \.jsonl or \.json",
                     capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["texts.txt"]


def test_eval_of_a_classifier_on_tagging_data_says_which_is_which(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """It said the folder held 'no train file': train.conll is none of classification's file types."""
    (tmp_path / "train.conll").write_text("Ada\tB-PER\nwrote\tO\n")
    assert main(["eval", str(tiny_run), "--data", str(tmp_path)]) == 2
    assert "labels whole texts, and " + str(tmp_path) + " holds tagging data" in capsys.readouterr().err


def test_eval_names_the_class_a_label_differs_from_only_in_case(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """'Positive' against the run's 'positive' got only the list of classes, to compare by eye."""
    (tmp_path / "gold.csv").write_text("text,label\ngood,positive\nfine,Positive\n")
    assert main(["eval", str(tiny_run), "--data", str(tmp_path / "gold.csv")]) == 2
    err = capsys.readouterr().err
    assert "gold.csv:3: field 'label': label 'Positive' is not one this model predicts ('positive' is: they differ " \
           "only in case)" in err
    (tmp_path / "gold.csv").write_text("text,label\ngood,neutral\n")
    assert main(["eval", str(tiny_run), "--data", str(tmp_path / "gold.csv")]) == 2
    assert "predicts; expected one of" in capsys.readouterr().err  # no twin, no hint


def test_eval_reads_the_labels_of_a_run_saved_with_whole_floats_as_their_digits(tiny_run: Path, tmp_path: Path,
                                                                               capsys) -> None:
    """A run trained on a CSV of 0.0 and 1.0 saved those names; its files now read as 0 and 1."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "labels.json").write_text(json.dumps(["0.0", "1.0"]))  # negative, positive as such a run named them
    (tmp_path / "gold.csv").write_text("text,label\ngood great film,1\nawful sad plot,0.0\n")
    assert main(["eval", str(run), "--data", str(tmp_path / "gold.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_accuracy"] == 1.0


def test_json_output_is_one_array_that_json_load_and_ctxlearn_read_back(tiny_run: Path, tmp_path: Path) -> None:
    """--output preds.json wrote JSON Lines, which json.load and pandas' read_json refuse ("Extra data")."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "good great film"}\n{"id": 2, "text": "awful sad plot"}\n')
    predictor = open_predictor(tiny_run)
    assert predictor.predict_file(src, tmp_path / "p.json") == predictor.predict_file(src, tmp_path / "p.jsonl") == 2
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert json.loads((tmp_path / "p.json").read_text()) == lines
    back = read_examples(tmp_path / "p.json", Fields(label="label"))  # an object a line: each keeps its own line
    assert [(ex.text, ex.label, ex.line) for ex in back] == [(r["text"], r["label"], i) for i, r in enumerate(lines, 2)]


def test_predict_texts_gives_the_rows_predict_writes(tiny_run: Path, tmp_path: Path, capsys) -> None:
    src = tmp_path / "texts.txt"
    src.write_text("good great film\nawful sad plot\n")
    assert main(["predict", str(tiny_run), "--input", str(src), "--output", "-"]) == 0
    written = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    rows = open_predictor(tiny_run).predict_texts(["good great film", "awful sad plot"])
    assert rows == [{k: pytest.approx(v, abs=1e-6) if k.startswith("p_") else v for k, v in r.items() if k != "line"}
                    for r in written]
    assert set(rows[0]) == {"text", "label", "p_negative", "p_positive"}


def test_predict_texts_takes_what_the_run_was_trained_on(tiny_run: Path) -> None:
    single = open_predictor(tiny_run)
    with pytest.raises(ConfigError, match=r"item 1 is tuple .*trained on single texts, so give a string"):
        single.predict_texts(["a film", ("a film", "it was good")])
    paired = open_predictor(tiny_run)
    paired.fields = Fields("premise", "label", "hypothesis")
    (row,) = paired.predict_texts([("a film", "it was good")])
    assert row["text"] == "a film" and row["text_pair"] == "it was good" and row["label"] in {"negative", "positive"}
    with pytest.raises(ConfigError, match=r"item 0 is str 'a film'.*trained on text pairs, so give a \(text, text_pair\)"):
        paired.predict_texts(["a film"])


def test_the_readmes_python_example_trains_and_predicts(tiny_bert: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """The README's Python block, run as written on a reviews.csv of toy sentences, with the tiny BERT."""
    import random

    from conftest import toy_sentence

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("From Python, the same run")[1].split("```python\n")[1].split("```")[0]
    assert 'method="lora", ' in block
    code = block.replace('method="lora", ', f'method="lora", model={str(tiny_bert)!r}, bf16="off", ')
    rng = random.Random(0)
    with (tmp_path / "reviews.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["review", "stars"])
        out.writerows([toy_sentence(rng, label), {"positive": 5, "negative": 1}[label]]
                      for label in ["positive", "negative"] * 80)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    scores, predicted = capsys.readouterr().out.splitlines()
    assert all(0.0 <= float(v) <= 1.0 for v in scores.split()) and len(scores.split()) == 2
    assert predicted.split()[0] in {"1", "5"} and "'p_1':" in predicted and "'p_5':" in predicted
    assert (tmp_path / "runs" / "reviews-lora" / "adapter").is_dir()


def test_a_pair_model_refuses_a_txt_file_naming_its_fields(tmp_path: Path) -> None:
    src = tmp_path / "texts.txt"
    src.write_text("a premise alone\n")
    with pytest.raises(DataError, match="this model reads pairs.*'premise' and 'hypothesis'"):
        read_unlabelled(src, Fields("premise", None, "hypothesis"))
    with pytest.raises(DataError, match="this model reads pairs.*premise/hypothesis, sentence1/sentence2"):
        read_unlabelled(src, Fields(label=None).for_model(text_pairs=True))  # pairs found without flags in training
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n")
    with pytest.raises(DataError, match="holds no text"):
        read_unlabelled(blank, Fields())


TAGGER_INPUTS = r"conll, jsonl, json, parquet, arrow, csv \(a text column\), tsv \(a text column\), or txt"


@pytest.mark.parametrize("read, formats", [(lambda p: read_unlabelled(p, Fields()),
                                            "csv, tsv, jsonl, json, parquet, arrow, or txt"),
                                           (read_sentences, TAGGER_INPUTS)],
                         ids=["classifier", "tagger"])
def test_an_unknown_input_type_names_the_types_predict_reads(tmp_path: Path, read, formats: str) -> None:
    """The reader's message named only the labelled formats, hiding that predict also takes .txt."""
    src = tmp_path / "notes.md"
    src.write_text("good great film\n")
    with pytest.raises(DataError, match=rf"notes.md.*'\.md' for inputs to label.*{formats}"):
        read(src)


def test_a_tagger_reads_a_txt_of_conll_lines_as_tokens_not_as_texts(tmp_path: Path) -> None:
    """CoNLL-2003's test.txt given to a tagger's predict was read as one raw text a line: 'EU NNP B-NP B-ORG'
    tagged as a sentence of four words, its gold tags among them."""
    src = tmp_path / "test.txt"
    src.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
                   "Blackburn NNP I-NP I-PER\n")
    assert [s.tokens for s in read_sentences(src)] == [("EU", "rejects"), ("Peter", "Blackburn")]
    src.write_text("EU rejects German call\n\nPeter Blackburn\n")  # raw text, a sentence a line
    assert [s.tokens for s in read_sentences(src)] == [("EU", "rejects", "German", "call"), ("Peter", "Blackburn")]
    src.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
    with pytest.raises(DataError, match="holds CoNLL tagging data .* and this run labels whole texts"):
        read_unlabelled(src, Fields())  # a classifier's predict: each line labelled as a text, without a word


def test_a_folder_to_label_is_refused_naming_its_files(tmp_path: Path) -> None:
    """A save_to_disk split folder given as --input was called a file of unknown type."""
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "part.jsonl").write_text('{"text": "good"}\n')
    (tmp_path / "test" / "state.json").write_text("{}")  # save_to_disk's own file, not data
    with pytest.raises(DataError, match=rf"test: a folder, and inputs to label are one file; expected a file of type "
                                        rf"csv, .* or txt; it holds {tmp_path / 'test' / 'part.jsonl'}$"):
        read_unlabelled(tmp_path / "test", Fields())


def test_dash_reads_texts_from_standard_input(tiny_run: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("good great film\n\nawful sad plot"))
    assert main(["predict", str(tiny_run), "--input", "-", "--output", "-"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["line"], r["text"]) for r in rows] == [(1, "good great film"), (3, "awful sad plot")]


def _texts(path: Path, n: int) -> Path:
    path.write_text("".join(f"{'good great' if i % 2 else 'awful sad'} film number {i}\n" for i in range(n)))
    return path


def _interrupted_in_second_part(run: Path, src: Path, dst: Path):
    """Predict ``src`` in parts of 3 with Ctrl-C while the second part is labelled; the unpatched
    ``predict_proba``, for the rerun."""
    predictor, calls = open_predictor(run), []
    predictor.part, real = 3, predictor.predict_proba

    def stop_at_second(examples):
        calls.append(len(examples))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(examples)

    predictor.predict_proba = stop_at_second
    with pytest.raises(KeyboardInterrupt):
        predictor.predict_file(src, dst)
    return real


def test_a_long_file_is_labelled_in_parts_with_progress(tiny_run: Path, tmp_path: Path, capsys) -> None:
    src, whole = _texts(tmp_path / "texts.txt", 7), open_predictor(tiny_run)
    assert whole.predict_file(src, tmp_path / "whole.jsonl") == 7
    capsys.readouterr()
    parted = open_predictor(tiny_run)
    parted.part = 3
    assert parted.predict_file(src, tmp_path / "parts.jsonl") == 7
    err = capsys.readouterr().err
    assert "3/7 labelled" in err and "6/7 labelled" in err and "7/7 labelled" in err and "ETA" in err
    whole_rows = [json.loads(line) for line in (tmp_path / "whole.jsonl").read_text().splitlines()]
    part_rows = [json.loads(line) for line in (tmp_path / "parts.jsonl").read_text().splitlines()]
    assert [r["line"] for r in part_rows] == list(range(1, 8))
    assert [r["label"] for r in part_rows] == [r["label"] for r in whole_rows]
    for got, want in zip(part_rows, whole_rows):  # other batches: in bf16 their shapes move the 5th digit
        probs = [k for k in want if k.startswith("p_")]
        assert len(probs) == 2 and [got[k] for k in probs] == pytest.approx([want[k] for k in probs], abs=1e-3)
    assert not (tmp_path / "parts.jsonl.partial").exists()  # removed once the output is written


def test_an_interrupted_prediction_labels_only_the_parts_it_lacks(tiny_run: Path, tmp_path: Path, capsys) -> None:
    src, dst = _texts(tmp_path / "texts.txt", 7), tmp_path / "pred.csv"
    real = _interrupted_in_second_part(tiny_run, src, dst)
    assert not dst.exists() and len(list((tmp_path / "pred.csv.partial").glob("*.jsonl"))) == 1

    again = open_predictor(tiny_run)
    again.part, labelled = 3, []
    again.predict_proba = lambda examples: labelled.append(len(examples)) or real(examples)
    capsys.readouterr()
    assert again.predict_file(src, dst) == 7
    assert labelled == [3, 1]  # the first part was read back, not labelled again
    assert "3/7 labelled (3 read back from" in capsys.readouterr().err
    with dst.open(newline="") as fh:
        assert [int(r["line"]) for r in csv.DictReader(fh)] == list(range(1, 8))
    assert not (tmp_path / "pred.csv.partial").exists()


def test_kept_parts_of_another_run_are_not_read(tiny_run: Path, tmp_path: Path) -> None:
    """A run trained again into the same folder must not serve the old run's kept predictions."""
    import os

    run, src, dst = tmp_path / "run", _texts(tmp_path / "texts.txt", 4), tmp_path / "pred.jsonl"
    shutil.copytree(tiny_run, run)
    real = _interrupted_in_second_part(run, src, dst)
    head = run / "head.safetensors"
    os.utime(head, ns=(head.stat().st_atime_ns, head.stat().st_mtime_ns + 10**9))  # the head written again
    new, labelled = open_predictor(run), []
    new.part = 3
    new.predict_proba = lambda examples: labelled.append(len(examples)) or real(examples)
    assert new.predict_file(src, dst) == 4 and labelled == [3, 1]  # nothing read back


def test_kept_parts_labelled_under_another_threshold_are_not_read(tiny_run: Path, tmp_path: Path) -> None:
    """A rerun with another --threshold read back the parts labelled by the old rule: 938 of 2,048 rows kept it."""
    src, dst = _texts(tmp_path / "texts.txt", 4), tmp_path / "pred.jsonl"
    real = _interrupted_in_second_part(tiny_run, src, dst)
    new, labelled = open_predictor(tiny_run, threshold="positive=0.01"), []
    new.part = 3
    new.predict_proba = lambda examples: labelled.append(len(examples)) or real(examples)
    assert new.predict_file(src, dst) == 4 and labelled == [3, 1]  # nothing read back
    assert {json.loads(line)["label"] for line in dst.read_text().splitlines()} == {"positive"}


def test_a_reader_that_stops_early_ends_predict_quietly(tiny_run: Path, tmp_path: Path) -> None:
    """`ctxlearn predict ... --output - | head -1` printed a BrokenPipeError traceback."""
    src = tmp_path / "many.txt"
    src.write_text("good great film and a long line to fill the pipe quickly\n" * 3000)  # ~400 KB of output
    proc = subprocess.Popen([sys.executable, "-m", "ctxlearn", "predict", str(tiny_run), "--input", str(src),
                             "--output", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(proc.stdout.readline())["line"] == 1
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and "Traceback" not in err and "Error" not in err



def test_a_threshold_decides_the_labels_predict_eval_and_eval_out_give(tiny_run: Path, tmp_path: Path, capsys) -> None:
    data = tiny_run.parent / "toy"
    examples = read_examples(data / "test.jsonl")
    p = open_predictor(tiny_run).predict_proba(examples)[:, 1]
    t = float(np.quantile(p, 0.3))  # labels 70% of test positive, where the most probable class labels half
    rule = np.where(p >= t, "positive", "negative")
    assert (rule != np.where(p >= 0.5, "positive", "negative")).any()  # the threshold changes some labels
    assert main(["predict", str(tiny_run), "--input", str(data / "test.jsonl"), "--output", "-",
                 "--threshold", f"positive={t!r}"]) == 0
    assert [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()] == rule.tolist()
    accuracy = float(np.mean(rule == np.array([ex.label for ex in examples])))
    assert main(["eval", str(tiny_run), "--data", str(data), "--threshold", f"positive={t!r}", "--out",
                 str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    assert f"accuracy {accuracy:.4f}" in out and f"labels: 'positive' where its probability is at least {t:g}" in out
    written = [json.loads(line)["pred"] for line in (tmp_path / "ev" / "test_predictions.jsonl").open()]
    assert written == rule.tolist()
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["test"]["threshold"] == {"label": "positive",
                                                                                               "value": t}
    assert "Labels here are decided by a threshold" in (tmp_path / "ev" / "report.md").read_text()


def test_a_threshold_naming_no_class_of_the_run_is_refused_before_any_file_is_read(tiny_run: Path, tmp_path: Path,
                                                                                    capsys) -> None:
    (tmp_path / "broken.jsonl").write_text("{not json\n")  # read, it would be refused for its JSON
    assert main(["predict", str(tiny_run), "--input", str(tmp_path / "broken.jsonl"), "--output", "-", "--threshold",
                 "postive=0.3"]) == 2
    assert ("--threshold postive=0.3: 'postive' is not a class of " + str(tiny_run) + " (did you mean 'positive'?); "
            "its classes are negative, positive") in capsys.readouterr().err


@pytest.mark.parametrize("command", [["predict", "RUN", "--input", "in.txt", "--output", "-"],
                                     ["eval", "RUN", "--data", "d.jsonl"], ["serve", "RUN"]])
def test_a_threshold_given_twice_is_refused(command: list[str], capsys) -> None:
    """--threshold positive=0.9 --threshold negative=0.9 kept only the last, which flipped every label."""
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--threshold", "positive=0.9", "--threshold", "negative=0.9"])
    assert exit_.value.code == 2
    assert "--threshold given twice (positive=0.9, then negative=0.9): give it once" in capsys.readouterr().err
