"""``ctxlearn train/eval/predict`` for token tagging, end to end on a tiny model and toy CoNLL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctxlearn.cli import main
from ctxlearn.data.tags import entity_spans
from conftest import toy_tagged_sentence  # tests/conftest.py


def _train(tiny_bert: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--model", str(tiny_bert), "--out", str(out), "--bf16", "off", *extra]


def test_train_eval_predict(tiny_bert: Path, toy_conll: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = _train(tiny_bert, toy_conll, out, "--task", "tagging", "--method", "full", "--epochs", "6", "--lr", "3e-3",
                  "--batch-size", "16", "--json")
    assert main(args) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["task"] == "tagging" and {"test_f1", "test_precision", "test_recall", "dev_f1"} <= set(result)
    n_test = (toy_conll / "test.conll").read_text().count("\tB-")
    assert f"ctxlearn: warning: test: {n_test} gold entities (one is {100 / n_test:.1f} points" in captured.err
    assert result["test_f1"] > 0.8, result
    report = (out / "report.md").read_text()
    assert "Entity-level scores" in report and "| POS |" in report and "type confusion" in report
    rows = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    wrong = sum(len(set(entity_spans(r["pred"])) - set(entity_spans(r["gold"]))) for r in rows)
    assert (f"## Test errors, the surest first ({min(wrong, 10)} of {wrong};" in report) == (wrong > 0)

    assert main(["eval", str(out), "--data", str(toy_conll), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["test_f1"] == pytest.approx(result["test_f1"])
    assert main(["eval", str(out), "--data", str(toy_conll / "test.conll"), "--out", str(tmp_path / "eval")]) == 0
    assert "F1" in capsys.readouterr().out
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())["test"]
    assert written["f1"] == pytest.approx(result["test_f1"]) and (tmp_path / "eval" / "confusion.png").is_file()
    assert (tmp_path / "eval" / "report.md").read_text().startswith(f"# ctxlearn eval: {out} on {toy_conll}/test.conll")
    assert (f"## Test errors, the surest first ({min(wrong, 10)} of {wrong};" in (tmp_path / "eval" / "report.md")
            .read_text()) == (wrong > 0)  # eval --out on the same test file lists the same errors
    assert main(["eval", str(out), "--data", str(toy_conll), "--out", str(tmp_path / "eval-folder")]) == 0
    assert f"scored on {toy_conll}/test.conll; its" in (tmp_path / "eval-folder" / "report.md").read_text()
    predicted = (tmp_path / "eval" / "test_predictions.jsonl").read_text().splitlines()
    assert len(predicted) == (toy_conll / "test.conll").read_text().strip().count("\n\n") + 1

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 7, "tokens": ["the", "movie", "was", "really", "nice"], "tags": ["O"] * 5})
                   + "\n" + json.dumps({"text": "The plot was bad, the acting great.", "id": 8}) + "\n")
    dst = tmp_path / "out.jsonl"
    assert main(["predict", str(out), "--input", str(src), "--output", str(dst)]) == 0
    tokens_row, text_row = [json.loads(line) for line in dst.read_text().splitlines()]
    # each line's other keys come through after its line number; gold tags beside the predicted ones
    assert list(tokens_row)[:3] == ["line", "id", "input_tags"] and tokens_row["input_tags"] == ["O"] * 5
    assert (tokens_row["id"], text_row["id"], list(text_row)[:3]) == (7, 8, ["line", "id", "text"])
    assert tokens_row["text"] == "the movie was really nice" and len(tokens_row["tags"]) == 5
    assert tokens_row["entities"] == [{"type": "POS", "text": "really nice", "start": 14, "end": 25, "tokens": [3, 5]}]
    assert text_row["tokens"] == ["The", "plot", "was", "bad", ",", "the", "acting", "great", "."]
    found = [(e["type"], e["text"]) for e in text_row["entities"]]
    assert [f for f in found if f[1] not in ",."] == [("NEG", "bad"), ("POS", "great")]  # no training text has "," or "."
    assert all(text_row["text"][e["start"]:e["end"]] == e["text"] for e in text_row["entities"])

    for unlabelled in ({"tokens": ["the", "movie"]}, {"text": "The plot was bad."}):  # no tags, no entities
        src.write_text(json.dumps(unlabelled) + "\n")
        assert main(["eval", str(out), "--data", str(src)]) == 2
        # the command it suggests runs: a tagger writes JSON Lines, which a .csv output was refused for
        assert (f"to label texts that have none, run ctxlearn predict {out} --input {src} --output predictions.jsonl"
                in capsys.readouterr().err)
    words = tmp_path / "words.jsonl"
    words.write_text(json.dumps({"words": ["Barack", "Obama"]}) + "\n")
    assert main(["predict", str(out), "--input", str(words), "--output", str(dst)]) == 2
    err = capsys.readouterr().err  # predict has no --label-field: its hint named one
    assert "neither 'tokens' nor 'text'" in err and "--text-field NAME" in err and "--label-field" not in err
    assert main(["predict", str(out), "--input", str(src), "--output", str(dst), "--skip-empty"]) == 2
    assert "--skip-empty is for runs that label whole texts" in capsys.readouterr().err
    # a gold file whose types the run never tags scored F1 0 without a word (WNUT-17's types upper-cased)
    (tmp_path / "gold.conll").write_text("the\tO\nfilm\tO\n\nso\tO\nreally\tB-pos\nnice\tI-pos\n")
    assert main(["eval", str(out), "--data", str(tmp_path / "gold.conll")]) == 2
    assert ("gold.conll:5: field 'tag': entity type 'pos' is not one this model tags ('POS' is: they differ only in "
            "case); expected one of ['NEG', 'POS']") in capsys.readouterr().err
    (tmp_path / "gold.conll").write_text("Ada\tB-PER\n")
    assert main(["eval", str(out), "--data", str(tmp_path / "gold.conll")]) == 2
    assert "entity type 'PER' is not one this model tags; expected one of" in capsys.readouterr().err


def test_task_inferred_from_conll_and_raw_text_input(tiny_bert: Path, toy_conll: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(_train(tiny_bert, toy_conll, out, "--method", "head", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["task"] == "tagging"
    assert json.loads((out / "manifest.json").read_text())["task"] == "tagging"
    src = tmp_path / "in.txt"
    src.write_text("a great film\n\nvery sad story\n")
    dst = tmp_path / "out.jsonl"
    assert main(["predict", str(out), "--input", str(src), "--output", str(dst)]) == 0
    rows = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 3] and rows[1]["tokens"] == ["very", "sad", "story"]
    capsys.readouterr()
    assert main(["predict", str(out), "--input", str(src), "--output", "-"]) == 0
    printed = capsys.readouterr()
    assert [json.loads(line) for line in printed.out.splitlines()] == rows and "to standard output" in printed.err
    from ctxlearn.predict import open_predictor

    parted = open_predictor(out)
    parted.part = 1  # a sentence at a time: the same rows, with progress
    assert parted.predict_file(src, tmp_path / "parts.jsonl") == 2 and "2/2 labelled" in capsys.readouterr().err
    assert [json.loads(line) for line in (tmp_path / "parts.jsonl").read_text().splitlines()] == rows
    # from Python, as a classifier's predict_texts gives them: the rows less the input's line (it was 0 in each)
    assert parted.predict_texts(["a great film", "very sad story"]) == [{k: v for k, v in r.items() if k != "line"}
                                                                       for r in rows]
    assert main(["predict", str(out), "--input", str(src), "--output", str(tmp_path / "out.csv")]) == 2
    assert "JSON Lines" in capsys.readouterr().err
    # a CSV column of texts (it was refused as a type tagging does not read), its other columns kept
    table = tmp_path / "in.csv"
    table.write_text('id,note\n1,a great film\n2,"very sad story"\n')
    assert main(["predict", str(out), "--input", str(table), "--output", str(tmp_path / "csv.jsonl"),
                 "--text-field", "note"]) == 0
    from_csv = [json.loads(line) for line in (tmp_path / "csv.jsonl").read_text().splitlines()]
    assert [(r["line"], r["id"], r["text"]) for r in from_csv] == [(2, "1", "a great film"), (3, "2", "very sad story")]
    assert [r["tags"] for r in from_csv] == [r["tags"] for r in rows]  # as the same texts from the .txt
    assert main(["predict", str(out), "--input", str(table), "--output", str(tmp_path / "no.jsonl")]) == 2
    assert "field 'text': not found; expected one of the fields present ('id', 'note')" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="--label-field: fields of JSON or Parquet records, ignored for CoNLL files"):
        assert main(["eval", str(out), "--data", str(toy_conll), "--label-field", "tag"]) == 0


def test_entities_jsonl_trains(tiny_bert: Path, tmp_path: Path, capsys) -> None:
    """Raw text with character-offset entities is tagging data too."""
    import random

    rng = random.Random(0)
    rows = []
    for _ in range(60):
        words = toy_tagged_sentence(rng)
        text, entities, pos = "", [], 0
        for w, tag in words:
            text += ("" if not text else " ") + w
            start = len(text) - len(w)
            if tag.startswith("B-"):
                entities.append([start, len(text), tag[2:]])
            elif tag.startswith("I-"):
                entities[-1][1] = len(text)
        rows.append(json.dumps({"text": text, "entities": entities}))
    (tmp_path / "all.jsonl").write_text("\n".join(rows) + "\n")
    assert main(_train(tiny_bert, tmp_path / "all.jsonl", tmp_path / "run", "--method", "head", "--json")) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "tagging" and result["test_f1"] > 0.5


def test_eval_reads_a_held_out_file_with_the_tag_flags_its_errors_name(tiny_bert: Path, toy_conll: Path,
                                                                        toy_data: Path, tmp_path: Path, capsys) -> None:
    """eval's error named --repair-tags (and --tag-scheme), which eval refused as unrecognized: a held-out file
    with one annotation slip, or its tags in another column, could not be scored without editing it."""
    out = tmp_path / "run"
    assert main(_train(tiny_bert, toy_conll, out, "--method", "head")) == 0
    gold = tmp_path / "gold.conll"
    gold.write_text("bad\tJJ\tB-NEG\nmovie\tNN\tO\nwas\tVB\tO\nreally\tRB\tI-POS\nnice\tJJ\tI-POS\n")
    capsys.readouterr()
    assert main(["eval", str(out), "--data", str(gold)]) == 2
    assert "(or --repair-tags to turn such tags into B- with a warning)" in capsys.readouterr().err
    assert main(["eval", str(out), "--data", str(gold), "--repair-tags", "--json"]) == 0
    repaired = {k: v for k, v in json.loads(capsys.readouterr().out).items() if k != "warnings"}
    assert repaired["test_entities"] == 2, "bad (NEG) and really nice (POS)"
    assert main(["eval", str(out), "--data", str(gold), "--tag-scheme", "IOB1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {**repaired, "warnings": []}  # IOB1: an I- starts an entity
    moved = tmp_path / "moved.conll"
    moved.write_text("".join(f"{line.split(chr(9))[0]}\t{line.split(chr(9))[2]}\tx\n"
                             for line in gold.read_text().splitlines()))
    assert main(["eval", str(out), "--data", str(moved), "--tag-column", "1", "--tag-scheme", "IOB1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {**repaired, "warnings": []}
    classifier = tmp_path / "classifier"
    assert main(_train(tiny_bert, toy_data, classifier, "--method", "head")) == 0
    assert main(["eval", str(classifier), "--data", str(toy_data), "--repair-tags"]) == 2
    assert "--repair-tags read tagging files, and this run labels whole texts" in capsys.readouterr().err


def test_tagging_classification_data_names_the_field(tiny_bert: Path, toy_data: Path, tmp_path: Path, capsys) -> None:
    assert main(_train(tiny_bert, toy_data, tmp_path / "run", "--task", "tagging")) == 2
    err = capsys.readouterr().err
    assert "train.jsonl:1" in err and "'entities'" in err


def test_eval_of_a_tagger_on_classification_data_says_which_is_which(tiny_bert: Path, toy_conll: Path,
                                                                      toy_data: Path, tmp_path: Path, capsys) -> None:
    """A CSV was "unknown file type '.csv' for tagging"; a JSON Lines folder of texts and labels, "field
    'entities': missing": neither said the run tags words and the data labels texts."""
    out = tmp_path / "run"
    assert main(_train(tiny_bert, toy_conll, out, "--method", "head")) == 0
    table = tmp_path / "reviews.csv"
    table.write_text("text,label\na fine film,positive\n")
    for data in (toy_data, table, "builtin:trec"):
        capsys.readouterr()
        assert main(["eval", str(out), "--data", str(data)]) == 2
        assert f"{out} tags words, and {data} holds classification data" in capsys.readouterr().err


def test_settings_of_the_other_tasks_data_are_warned_of_as_ignored(tiny_bert: Path, toy_conll: Path,
                                                                    toy_data: Path, tmp_path: Path, capsys) -> None:
    """--label-field ner on a CoNLL file, or --tag-scheme on a CSV, were ignored silently."""
    with pytest.warns(UserWarning, match="--label-field: fields of JSON or Parquet records, ignored for CoNLL files"):
        assert main(_train(tiny_bert, toy_conll, tmp_path / "tags", "--method", "head", "--label-field", "ner",
                           "--long-inputs", "windows")) == 0
    assert ("ctxlearn: warning: --long-inputs: ignored for tagging data; a tagging run tags the words of one text"
            in capsys.readouterr().err)
    assert main(_train(tiny_bert, toy_data, tmp_path / "texts", "--method", "head", "--tag-scheme", "BIO")) == 0
    assert ("ctxlearn: warning: --tag-scheme: ignored for classification data; classification data has no tags"
            in capsys.readouterr().err)
    assert main(_train(tiny_bert, toy_data, tmp_path / "quiet", "--method", "head")) == 0
    assert "ignored for" not in capsys.readouterr().err


def test_eval_on_the_conll_file_a_run_was_cut_from_scores_its_test_split(tiny_bert: Path, toy_conll: Path,
                                                                         tmp_path: Path, capsys) -> None:
    whole = tmp_path / "all.conll"
    whole.write_text("\n".join((toy_conll / f"{s}.conll").read_text().strip() for s in ("train", "dev", "test")) + "\n")
    out = tmp_path / "run"
    assert main(_train(tiny_bert, whole, out, "--method", "head", "--json")) == 0
    trained = json.loads(capsys.readouterr().out)
    assert main(["eval", str(out), "--data", str(whole), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["test_f1"] == pytest.approx(trained["test_f1"])
    assert "all.conll is the file this run was trained on; scoring its test split (24 rows" in captured.err


def test_eval_on_the_sentences_a_tagger_trained_on_says_so(tiny_bert: Path, toy_conll: Path, tmp_path: Path,
                                                           capsys) -> None:
    """As for classifiers: the folder's train.conll given to eval scored the learnt sentences without a word."""
    out = tmp_path / "run"
    assert main(_train(tiny_bert, toy_conll, out, "--method", "head")) == 0
    n = (toy_conll / "train.conll").read_text().strip().count("\n\n") + 1
    for given, said in ((toy_conll / "train.conll", True), (toy_conll / "test.conll", False)):
        capsys.readouterr()
        assert main(["eval", str(out), "--data", str(given)]) == 0
        err = capsys.readouterr().err
        assert (f"{given}: {n} of {n} sentences (100.0%) are ones the run trained on (the train split of {toy_conll})"
                in err) is said, err


def test_a_conll_folder_of_txt_files_as_conll_2003_ships_trains_evaluates_and_predicts(tiny_bert: Path,
                                                                                        toy_conll: Path,
                                                                                        tmp_path: Path, capsys) -> None:
    data = tmp_path / "conll2003"
    data.mkdir()
    for split, name in (("train", "train"), ("dev", "valid"), ("test", "test")):
        (data / f"{name}.txt").write_text((toy_conll / f"{split}.conll").read_text())
    out = tmp_path / "run"
    assert main(_train(tiny_bert, data, out, "--method", "head", "--json")) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["task"] == "tagging" and "test_f1" in trained
    assert main(["eval", str(out), "--data", str(data / "test.txt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_f1"] == pytest.approx(trained["test_f1"])
    assert main(["predict", str(out), "--input", str(data / "test.txt"), "--output", str(tmp_path / "p.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == (toy_conll / "test.conll").read_text().strip().count("\n\n") + 1  # a sentence a row
    assert "\t" not in rows[0]["text"] and "B-" not in rows[0]["text"]  # its words, not its lines


def test_json_with_words_and_tags_under_other_names_trains_predicts_and_evaluates(tiny_bert: Path, toy_conll: Path,
                                                                                   tmp_path: Path, capsys) -> None:
    """--text-field words --label-field ner were ignored for tagging data, which could then not be read at all."""
    from ctxlearn.data.tagged import read_tagged

    data = tmp_path / "named"
    data.mkdir()
    for split in ("train", "dev", "test"):
        rows = [{"words": list(s.tokens), "ner": list(s.tags)} for s in read_tagged(toy_conll / f"{split}.conll")]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    assert main(_train(tiny_bert, data, out, "--method", "head", "--text-field", "words", "--label-field", "ner",
                       "--json")) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["task"] == "tagging"
    assert main(["eval", str(out), "--data", str(data), "--json"]) == 0  # the run's fields, from its config
    assert json.loads(capsys.readouterr().out)["test_f1"] == pytest.approx(trained["test_f1"])
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "words": ["a", "great", "film"]}) + "\n")
    assert main(["predict", str(out), "--input", str(src), "--output", "-"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["id"] == 1 and row["tokens"] == ["a", "great", "film"] and len(row["tags"]) == 3
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"toks": ["a", "great", "film"]}) + "\n")
    assert main(["predict", str(out), "--input", str(other), "--output", "-", "--text-field", "toks"]) == 0
    assert [json.loads(line)["tags"] for line in capsys.readouterr().out.splitlines()] == [row["tags"]]
    assert main(["predict", str(out), "--input", str(other), "--output", "-"]) == 2
    assert "field 'words': not found" in capsys.readouterr().err
