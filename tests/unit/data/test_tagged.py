"""Tagging readers (CoNLL, JSON Lines with tokens/tags or text/entities) and splits, on small files
written here; every malformed case names the file, line and field."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_parquet

from ctxlearn.data.tagged import TagOptions, read_bio, read_tagged, tag_options
from ctxlearn.data.tagged_splits import data_task, is_tagging_data, load_tagged_splits
from ctxlearn.data.words import split_words
from ctxlearn.errors import ConfigError, DataError


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# --- good files --------------------------------------------------------------------------------

def test_conll_tabs_spaces_docstart_and_blank_lines(tmp_path):
    path = write(tmp_path, "a.conll", "-DOCSTART- -X- O\n\nAda\tB-PER\nLovelace  I-PER\n\n\n"
                                      "New York\tB-LOC\r\n-DOCSTART-\tO\nwrote O\n")
    sents = read_tagged(path)
    assert [(s.tokens, s.tags, s.lines) for s in sents] == [
        (("Ada", "Lovelace"), ("B-PER", "I-PER"), (3, 4)), (("New York",), ("B-LOC",), (7,)), (("wrote",), ("O",), (9,))]


def test_conll_comment_lines_before_a_sentence_are_skipped_but_hash_tokens_kept(tmp_path):
    # MultiCoNER's "# id ...\tdomain=..." and CoNLL-U's "# text = ..."; a tweet's "#" is a token either way
    path = write(tmp_path, "a.conll", "# id f0ed\tdomain=en\nAda _ _ B-PER\nwrote _ _ O\n\n# sent_id = 2\n"
                                      "# text = # rain\n# O\nrain O\n\n#\tO\nsun\tO\n")
    sents = read_tagged(path)
    assert [(s.tokens, s.lines) for s in sents] == [(("Ada", "wrote"), (2, 3)), (("#", "rain"), (7, 8)),
                                                    (("#", "sun"), (10, 11))]
    assert sents[0].tags == ("B-PER", "O")


def test_conll_white_space_at_the_end_of_a_line_is_no_column(tmp_path):
    # a trailing tab once made an empty last column, rejected as "empty tag"
    path = write(tmp_path, "a.conll", "Paris\tB-LOC\t\nis\tO\t \t\nNew York\tB-LOC \t\nnice O\t\n")
    (s,) = read_tagged(path)
    assert s.tokens == ("Paris", "is", "New York", "nice") and s.tags == ("B-LOC", "O", "B-LOC", "O")


def test_conll_tag_column(tmp_path):
    path = write(tmp_path, "a.conll", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    assert read_tagged(path, TagOptions(tag_column=2))[0].tags == ("B-NP", "B-VP")
    assert read_tagged(path)[0].tags == ("B-ORG", "O")


def test_a_last_column_that_holds_no_tags_is_refused_naming_the_column_that_does(tmp_path):
    """A SpaceAfter flag last was read as the tags: inspect found entity types No and Yes, and train ran on them."""
    path = write(tmp_path, "a.conll", "R.H.\tB-ORG\tYes\nMacy\tI-ORG\tNo\nsells\tO\tYes\n\nhi\tO\tNo\n")
    with pytest.raises(DataError, match=r"a.conll:1: field 'tag': the last column, read as the tags, holds no O "
                                        r"and no B-/I- tag \('Yes', 'No'\), where column 1 does.*--tag-column 1"):
        read_tagged(path)
    assert read_tagged(path, TagOptions(tag_column=1))[0].tags == ("B-ORG", "I-ORG", "O")
    conll2003 = write(tmp_path, "b.conll", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")  # chunk tags before the tags
    assert read_tagged(conll2003)[0].tags == ("B-ORG", "O")


def test_jsonl_tokens_and_tags(tmp_path):
    path = write(tmp_path, "a.jsonl", jsonl({"tokens": ["Ada", "wrote"], "tags": ["B-PER", "O"]}))
    (s,) = read_tagged(path)
    assert s.tokens == ("Ada", "wrote") and s.tags == ("B-PER", "O") and s.line == 1
    assert s.char_offsets() == ("Ada wrote", [(0, 3), (4, 9)])


def test_jsonl_tags_may_be_the_hub_s_ner_tags_but_ids_need_names(tmp_path):
    path = write(tmp_path, "a.jsonl", jsonl({"id": "0", "tokens": ["EU", "rejects"], "ner_tags": ["B-ORG", "O"]}))
    assert [s.tags for s in read_tagged(path)] == [("B-ORG", "O")]
    ids = write(tmp_path, "b.jsonl", jsonl({"tokens": ["EU", "rejects"], "ner_tags": [3, 0]}))  # Dataset.to_json
    with pytest.raises(DataError, match="tag ids, and the file's metadata names no tags") as info:
        read_tagged(ids)
    assert info.value.field == "ner_tags" and info.value.line == 1


def test_jsonl_tags_may_be_labels_and_missing_tags_name_the_fields_present(tmp_path):
    """Tags under `labels` were "field 'tags': not found", which named neither the fields tried nor those there."""
    path = write(tmp_path, "a.jsonl", jsonl({"tokens": ["Ada", "ran"], "labels": ["B-PER", "O"]}))
    assert [s.tags for s in read_tagged(path)] == [("B-PER", "O")]
    other = write(tmp_path, "b.jsonl", jsonl({"tokens": ["Ada", "ran"], "ner": ["B-PER", "O"]}))
    with pytest.raises(DataError, match=r"b.jsonl:1: field 'tags': not found; expected a list with one tag per token "
                                        r"under tags or ner_tags or labels, or under the field named with "
                                        r"--label-field NAME \(fields present: 'tokens', 'ner'\)"):
        read_tagged(other)


def test_words_and_tags_under_other_names_are_read_where_options_name_them(tmp_path):
    """{"words": [...], "ner": [...]} could not be read: --text-field and --label-field were ignored for tagging."""
    path = write(tmp_path, "a.jsonl", jsonl({"id": 3, "words": ["Ada", "wrote"], "ner": ["B-PER", "O"]}))
    named = TagOptions(words_field="words", tags_field="ner")
    assert [(s.tokens, s.tags) for s in read_tagged(path, named)] == [(("Ada", "wrote"), ("B-PER", "O"))]
    (unlabelled,) = read_tagged(path, TagOptions(labelled=False, words_field="words", tags_field="ner"))
    assert unlabelled.tokens == ("Ada", "wrote") and dict(unlabelled.others) == {"id": 3, "ner": ["B-PER", "O"]}
    assert is_tagging_data(str(path), "words", "ner") and not is_tagging_data(str(path))
    spans = write(tmp_path, "b.jsonl", jsonl({"content": "Ada met Babbage", "spans": [[0, 3, "PER"], [8, 15, "PER"]]}))
    assert [s.tags for s in read_tagged(spans, TagOptions(words_field="content", tags_field="spans"))] == [
        ("B-PER", "O", "B-PER")]  # a named text field holding a string is raw text, its named tags entity spans
    assert is_tagging_data(str(spans), "content", "spans") and not is_tagging_data(str(spans))
    with pytest.raises(DataError, match=r"a.jsonl:1: field 'ner_tags': not found; expected its tags \(a list, one "
                                        r"per token\) or its entity spans \(fields present: 'id', 'words', 'ner'\)"):
        read_tagged(path, TagOptions(words_field="words", tags_field="ner_tags"))


def test_parquet_words_and_tags_under_other_names(tmp_path):
    path = write_parquet(tmp_path / "w.parquet", {"words": [["Ada", "ran"]], "ner": [["B-PER", "O"]], "text": ["x"]})
    assert data_task(str(path)) == "classification" and data_task(str(path), "words") == "tagging"
    assert read_tagged(path, TagOptions(words_field="words", tags_field="ner"))[0].tags == ("B-PER", "O")


NAMED = TagOptions(words_field="words", tags_field="ner")
SPANS = TagOptions(words_field="content", tags_field="spans")
# a bad record, the options it is read with, and the field its error names: as the file names it
MISNAMED = [
    ({"words": ["Ada", "ran"], "ner": ["B-PER", "Q-X"]}, NAMED, "ner[1]", "not a BIO tag"),
    ({"words": ["Ada", "ran", "Bo"], "ner": ["B-PER", "O", "I-PER"]}, NAMED, "ner[2]", "continues no PER entity"),
    ({"words": ["Ada", "ran"], "ner": ["O"]}, NAMED, "ner", "1 tags for 2 tokens; expected one tag per token of 'wor"),
    ({"words": ["Ada", 3], "ner": ["O", "O"]}, NAMED, "words[1]", "not a non-empty string"),
    ({"words": ["Ada"], "ner": [None]}, NAMED, "ner[0]", "not a non-empty string"),
    ({"tokens": ["Ada", "ran"], "ner_tags": ["O"]}, TagOptions(), "ner_tags", "1 tags for 2 tokens"),
    ({"tokens": ["Ada"], "labels": ["S-PER"]}, TagOptions(scheme="BIO"), "labels[0]", "not a BIO tag"),
    ({"content": " ", "spans": []}, SPANS, "content", "not a non-empty"),
    ({"content": "Ada", "spans": [[0, 9, "PER"]]}, SPANS, "spans[0]", "not inside the text"),
    ({"content": "Ada", "spans": [[0, 3, "PER"], [1, 3, "PER"]]}, SPANS, "spans", "overlap"),
]


@pytest.mark.parametrize("record, options, field, message", MISNAMED)
def test_errors_name_a_field_as_the_file_names_it(tmp_path, record, options, field, message):
    """A bad tag under --label-field ner was reported as "field 'tags[2]'", a field the file does not have."""
    with pytest.raises(DataError) as info:
        read_bio(write(tmp_path, "a.jsonl", jsonl(record)), options)
    assert (info.value.line, info.value.field) == (1, field) and message in str(info.value), str(info.value)


def test_parquet_tag_errors_name_the_column_and_its_element(tmp_path):
    path = write_parquet(tmp_path / "w.parquet", {"words": [["Ada", "ran"], ["Bo"]], "ner": [["B-PER", "O"], ["I-X"]]})
    with pytest.raises(DataError, match=r"w.parquet:2: field 'ner\[0\]': tag 'I-X' at the start of the sentence"):
        read_bio(path, NAMED)
    ids = write_parquet(tmp_path / "i.parquet", {"words": [["Ada"]], "ner": [[1]]})
    with pytest.raises(DataError, match=r"i.parquet:1: field 'ner': tag ids"):
        read_bio(ids, NAMED)


def test_tag_options_take_the_fields_a_run_named_and_leave_its_defaults_to_be_found():
    assert tag_options({"text_field": "text", "label_field": "label", "text_pair_field": None}) == TagOptions()
    assert tag_options({"text_field": "words", "label_field": "ner", "tag_scheme": "bio", "repair_tags": True}) == \
        TagOptions(scheme="BIO", repair=True, words_field="words", tags_field="ner")


def test_jsonl_text_and_entities_become_bio(tmp_path):
    text = "Ada Lovelace met Babbage in London-based salons."
    path = write(tmp_path, "a.jsonl", jsonl(
        {"text": text, "entities": [{"start": 0, "end": 12, "label": "PER"}, [17, 24, "PER"],
                                    {"start": 28, "end": 34, "type": "LOC"}]}))
    (s,) = read_tagged(path)
    assert s.tokens == ("Ada", "Lovelace", "met", "Babbage", "in", "London", "-", "based", "salons", ".")
    assert s.tags == ("B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "O", "O", "O", "O")
    assert [text[a:b] for a, b in s.offsets] == list(s.tokens)


def test_doccano_exports_keep_their_spans_under_label_or_labels(tmp_path):
    path = write(tmp_path, "a.jsonl", jsonl(
        {"id": 1, "text": "Ada met Babbage", "label": [[0, 3, "PER"], [8, 15, "PER"]]},
        {"id": 2, "text": "in London", "labels": [{"start": 3, "end": 9, "label": "LOC"}]},
        {"id": 3, "text": "it rained", "label": []}))
    assert [s.tags for s in read_tagged(path)] == [("B-PER", "O", "B-PER"), ("O", "B-LOC"), ("O", "O")]
    studio = write(tmp_path, "s.json", json.dumps([  # Label Studio's JSON-MIN export: one array, types in lists
        {"id": 7, "text": "Ada met Babbage", "label": [{"start": 0, "end": 3, "text": "Ada", "labels": ["PER"]}]}]))
    assert is_tagging_data(str(studio)) and [s.tags for s in read_tagged(studio)] == [("B-PER", "O", "O")]
    bad = write(tmp_path, "b.jsonl", jsonl({"text": "Ada", "label": [[0, 9, "PER"]]}))
    with pytest.raises(DataError, match="not inside the text") as info:
        read_tagged(bad)
    assert info.value.field == "label[0]"


def test_entity_boundary_inside_a_word_splits_it(tmp_path):
    path = write(tmp_path, "a.jsonl", jsonl({"text": "NASAs rocket", "entities": [[0, 4, "ORG"]]}))
    (s,) = read_tagged(path)
    assert s.tokens == ("NASA", "s", "rocket") and s.tags == ("B-ORG", "O", "O")


def test_split_words_keeps_offsets_and_contractions():
    text = "Don't  go to the U.S. (today)!"
    words = split_words(text)
    assert [w for w, _, _ in words] == ["Don't", "go", "to", "the", "U", ".", "S", ".", "(", "today", ")", "!"]
    assert all(text[s:e] == w for w, s, e in words)


def test_split_words_keeps_combining_marks_in_their_word():
    """A decomposed "Renée" (macOS, PDF text) was split into "Rene", the accent and "e", and "Rene" and
    "e Fleming" tagged as entities; Devanagari's vowel signs split every Hindi word the same way."""
    import unicodedata

    text = unicodedata.normalize("NFD", "Renée Fleming sang in Montréal. नरेंद्र मोदी")
    words = split_words(text)
    assert [unicodedata.normalize("NFC", w) for w, _, _ in words] == [
        "Renée", "Fleming", "sang", "in", "Montréal", ".", "नरेंद्र", "मोदी"]
    assert all(text[s:e] == w for w, s, e in words)


def test_conll_space_separated_columns_keep_a_non_breaking_space_in_the_token(tmp_path):
    """`New\u00a0York B-LOC` was read as the token New: the split at any white space dropped York."""
    path = write(tmp_path, "a.conll", "Visit O\nNew\u00a0York B-LOC\nnow O\n\u00a0\nrain O\n")
    assert [s.tokens for s in read_tagged(path)] == [("Visit", "New\u00a0York", "now"), ("rain",)]


def test_iobes_file_is_detected_and_converted(tmp_path):
    path = write(tmp_path, "a.conll", "Ada B-PER\nLovelace E-PER\nin O\nLondon S-LOC\n")
    assert read_bio(path)[0].tags == ("B-PER", "I-PER", "O", "B-LOC")


def test_unlabelled_reading_ignores_tags(tmp_path):
    path = write(tmp_path, "a.conll", "Ada\nwrote\n")
    assert read_tagged(path, TagOptions(labelled=False))[0].tokens == ("Ada", "wrote")
    assert read_tagged(write(tmp_path, "b.jsonl", jsonl({"text": "Ada wrote"})), TagOptions(labelled=False))[0].tags == ()


def test_unlabelled_lines_holding_words_after_the_token_are_warned_of(tmp_path):
    """A tokens-only file with `New York` on a line tagged "New" alone: York was read as the ignored tag column."""
    path = write(tmp_path, "a.conll", "I\nlove\nNew York\nand\nLos Angeles\n\nParis\tB-LOC\n")
    with pytest.warns(UserWarning, match=r"a.conll: 2 line\(s\) hold more after the token than a tag \(the first, "
                                         r"line 3: 'New York'\)"):
        sentences = read_tagged(path, TagOptions(labelled=False))
    assert [s.tokens for s in sentences] == [("I", "love", "New", "and", "Los"), ("Paris",)]


# --- every malformed case: (file name, content, options, line, field, words in the message) ----

BAD = [
    ("one-column", "a.conll", "Ada B-PER\nLovelace\n", {}, 2, "tag", "only one column"),
    ("tag-column-out-of-range", "a.conll", "Ada NNP B-PER\n", {"tag_column": 5}, 1, "tag", "no tag column 5"),
    ("tag-column-is-token", "a.conll", "Ada NNP B-PER\n", {"tag_column": 0}, 1, "tag", "no tag column 0"),
    ("empty-tag-tab", "a.conll", "Ada\tNNP\tB-PER\nwrote\t\tO\n", {"tag_column": 1}, 2, "tag", "empty tag"),
    ("token-then-tab", "a.conll", "Ada\tB-PER\nwrote\t\n", {}, 2, "tag", "only one column ('wrote')"),
    ("empty-token-tab", "a.conll", "\tO\n", {}, 1, "column 1", "empty token"),
    ("orphan-i", "a.conll", "Ada B-PER\n\nwrote O\nLovelace I-PER\n", {}, 4, "tag", "continues no PER entity"),
    ("wrong-scheme-given", "a.conll", "Ada S-PER\n", {"scheme": "BIO"}, 1, "tag", "not a BIO tag"),
    ("prefix-without-type", "a.conll", "Ada B-\n", {}, 1, "tag", "no entity type"),
    ("bare-type-in-bio", "a.conll", "Ada B-PER\nwrote PER\n", {}, 2, "tag", "not a BIO tag"),
    ("not-utf8", "a.conll", None, {}, 2, None, "not UTF-8"),
    ("empty-file", "a.conll", "\n\n-DOCSTART- O\n", {}, None, None, "no sentences"),
    ("unknown-suffix", "a.txt", "Ada B-PER\n", {}, None, None, "unknown file type"),
    ("bad-json", "a.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": [\n', {}, 2, None, "malformed JSON"),
    ("json-not-object", "a.jsonl", '["a"]\n', {}, 1, None, "not an object"),
    ("neither-tokens-nor-text", "a.jsonl", jsonl({"words": ["a"]}), {}, 1, None, "neither 'tokens' nor 'text'"),
    ("tokens-not-list", "a.jsonl", jsonl({"tokens": "Ada wrote", "tags": ["O"]}), {}, 1, "tokens", "instead of a list"),
    ("tokens-empty", "a.jsonl", jsonl({"tokens": [], "tags": []}), {}, 1, "tokens", "an empty list"),
    ("token-not-string", "a.jsonl", jsonl({"tokens": ["a", 3], "tags": ["O", "O"]}), {}, 1, "tokens[1]", "not a non-empty string"),
    ("token-empty", "a.jsonl", jsonl({"tokens": ["a", " "], "tags": ["O", "O"]}), {}, 1, "tokens[1]", "not a non-empty string"),
    ("tags-missing", "a.jsonl", jsonl({"tokens": ["a"]}), {}, 1, "tags", "not found"),
    ("tags-length", "a.jsonl", jsonl({"tokens": ["a", "b"], "tags": ["O"]}), {}, 1, "tags", "1 tags for 2 tokens"),
    ("tag-not-string", "a.jsonl", jsonl({"tokens": ["a"], "tags": [None]}), {}, 1, "tags[0]", "not a non-empty string"),
    ("orphan-i-jsonl", "a.jsonl", jsonl({"tokens": ["a"], "tags": ["B-X"]}, {"tokens": ["a", "b"], "tags": ["O", "I-X"]}),
     {}, 2, "tags[1]", "continues no X entity"),
    ("text-empty", "a.jsonl", jsonl({"text": " ", "entities": []}), {}, 1, "text", "not a non-empty string"),
    ("entities-missing", "a.jsonl", jsonl({"text": "Ada"}), {}, 1, "entities", "missing"),
    ("entities-not-list", "a.jsonl", jsonl({"text": "Ada", "entities": {"start": 0}}), {}, 1, "entities", "instead of a list"),
    ("entity-not-entity", "a.jsonl", jsonl({"text": "Ada", "entities": ["PER"]}), {}, 1, "entities[0]", "is not an entity"),
    ("entity-offsets-not-int", "a.jsonl", jsonl({"text": "Ada", "entities": [["0", 3, "PER"]]}), {}, 1, "entities[0]",
     "not both integers"),
    ("entity-out-of-range", "a.jsonl", jsonl({"text": "Ada", "entities": [[0, 9, "PER"]]}), {}, 1, "entities[0]",
     "not inside the text"),
    ("entity-empty-span", "a.jsonl", jsonl({"text": "Ada", "entities": [[2, 2, "PER"]]}), {}, 1, "entities[0]",
     "not inside the text"),
    ("entity-no-type", "a.jsonl", jsonl({"text": "Ada", "entities": [{"start": 0, "end": 3}]}), {}, 1, "entities[0]",
     "entity type None"),
    ("entity-only-space", "a.jsonl", jsonl({"text": "Ada  wrote", "entities": [[3, 5, "PER"]]}), {}, 1, "entities[0]",
     "holds no word"),
    ("entities-overlap", "a.jsonl", jsonl({"text": "Ada Lovelace", "entities": [[0, 12, "PER"], [4, 12, "PER"]]}), {},
     1, "entities", "overlap"),
]


@pytest.mark.parametrize("name, filename, content, options, line, field, message", BAD, ids=[b[0] for b in BAD])
def test_malformed(tmp_path, name, filename, content, options, line, field, message):
    path = tmp_path / filename
    if content is None:
        path.write_bytes(b"Ada B-PER\nLov\xe9lace I-PER\n")
    else:
        write(tmp_path, filename, content)
    with pytest.raises(DataError) as info:
        read_bio(path, TagOptions(**options))
    err = info.value
    assert message in str(err) and err.path == str(path)
    assert err.line == line and err.field == field, str(err)
    assert "expected" in str(err)


def test_missing_file_and_bad_scheme_option(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_tagged(tmp_path / "nope.conll")
    with pytest.raises(ConfigError, match=r"tag_scheme must be auto or one of IO, IOB1, BIO, BIOES \(or IOB2, IOBES, "
                                          r"BILOU\), not 'bieos' \(did you mean 'BIOES'\?\)"):
        TagOptions(scheme="bieos")
    with pytest.raises(ConfigError, match="not 'XYZ'$"):
        TagOptions(scheme="XYZ")


def test_a_scheme_may_be_named_in_any_case_or_as_seqeval_names_it(tmp_path):
    """IOB2, IOBES and BILOU (seqeval's names, and BILOU's own) were refused: only BIO and BIOES were known."""
    named = {"bio": "BIO", "IOB2": "BIO", "iobes": "BIOES", "BILOU": "BIOES", "io": "IO", "Auto": "auto"}
    assert {name: TagOptions(scheme=name).scheme for name in named} == named
    tagged = [("Ada", "B-PER"), ("Lovelace", "L-PER"), ("ran", "O"), ("Bo", "U-PER")]
    path = write(tmp_path, "bilou.conll", conll(tagged))
    assert [s.tags for s in read_bio(path, TagOptions(scheme="BILOU"))] == [("B-PER", "I-PER", "O", "B-PER")]


def test_repair_turns_orphans_into_b_with_a_warning(tmp_path):
    path = write(tmp_path, "a.conll", "wrote O\nLovelace I-PER\nand O\nBabbage I-PER\n")
    with pytest.warns(UserWarning, match=r"a.conll: 2 I- tags continued no entity.*the first on line 2\)"):
        (s,) = read_bio(path, TagOptions(repair=True, scheme="BIO"))
    assert s.tags == ("O", "B-PER", "O", "B-PER")


def test_orphans_error_names_the_first_and_counts_the_file(tmp_path):
    path = write(tmp_path, "a.conll", "Ada B-PER\n\nwrote O\nLovelace I-PER\n\nand O\nBabbage I-PER\n")
    with pytest.raises(DataError, match=r"'I-PER' after 'O' continues no PER entity \(the first of 2 such") as info:
        read_bio(path, TagOptions(scheme="BIO"))
    assert info.value.line == 4


# --- splits ------------------------------------------------------------------------------------

def conll(*sentences: list[tuple[str, str]]) -> str:
    return "\n".join("".join(f"{w}\t{t}\n" for w, t in s) for s in sentences)


def test_folder_splits_labels_and_hashes(tmp_path):
    write(tmp_path, "train.conll", conll([("Ada", "B-PER"), ("wrote", "O")], [("in", "O"), ("Paris", "B-LOC")]))
    write(tmp_path, "dev.conll", conll([("Rome", "B-LOC")]))
    write(tmp_path, "test.conll", conll([("Bob", "B-PER")]))
    splits = load_tagged_splits(str(tmp_path))
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (2, 1, 1)
    assert splits.labels == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"] and splits.types == ["LOC", "PER"]
    assert splits.scheme == "BIO" and splits.sources["dev"].endswith("dev.conll")
    write(tmp_path, "test.conll", "Bob  B-PER\n\n")  # reformatted, same content: same hash
    assert load_tagged_splits(str(tmp_path)).hashes == splits.hashes
    assert is_tagging_data(str(tmp_path)) and is_tagging_data(str(tmp_path / "dev.conll"))


def test_a_gzipped_conll_folder_is_tagging_data(tmp_path):
    import gzip

    (tmp_path / "train.conll.gz").write_bytes(gzip.compress(conll([("Ada", "B-PER")], [("Rome", "B-LOC")]).encode()))
    assert is_tagging_data(str(tmp_path)) and is_tagging_data(str(tmp_path / "train.conll.gz"))
    tokens = [s.tokens for s in read_tagged(tmp_path / "train.conll.gz")]
    assert tokens == [("Ada",), ("Rome",)]


CONLL_2003_TRAIN = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
                    "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\nLondon NNP B-NP B-LOC\n")


def test_conll_2003_as_it_ships_train_valid_and_test_txt_is_read_as_tagging_data(tmp_path):
    """CoNLL-2003 ships as train.txt, valid.txt and test.txt: it was refused with a hint to rename each .conll."""
    write(tmp_path, "train.txt", CONLL_2003_TRAIN)
    write(tmp_path, "valid.txt", "-DOCSTART- -X- -X- O\n\nParis NNP B-NP B-LOC\nis VBZ B-VP O\nbig JJ B-NP O\n")
    write(tmp_path, "test.txt", "-DOCSTART- -X- -X- O\n\nAda NNP B-NP B-PER\nwrote VBD B-VP O\nit PRP B-NP O\n")
    write(tmp_path, "README.txt", "CoNLL-2003 English, as distributed\n")  # named for no split
    assert is_tagging_data(str(tmp_path)) and is_tagging_data(str(tmp_path / "train.txt"))
    splits = load_tagged_splits(str(tmp_path))
    assert [s.tokens for s in splits.train] == [("EU", "rejects", "German"), ("Peter", "Blackburn"), ("London",)]
    assert splits.train[1].tags == ("B-PER", "I-PER") and splits.sources["dev"] == str(tmp_path / "valid.txt")
    assert [s.tokens for s in read_tagged(tmp_path / "test.txt")] == [("Ada", "wrote", "it")]
    import gzip

    (tmp_path / "test.txt.gz").write_bytes(gzip.compress((tmp_path / "test.txt").read_bytes()))
    assert [s.tokens for s in read_tagged(tmp_path / "test.txt.gz")] == [("Ada", "wrote", "it")]  # gzipped too
    (tmp_path / "test.txt.gz").unlink()
    (tmp_path / "other").mkdir()
    notes = write(tmp_path / "other", "train.txt", "a film I liked\nanother one\n\nand a third\n")
    assert data_task(str(notes)) is None and not is_tagging_data(str(notes.parent))  # plain text is no CoNLL


def test_a_tagging_folder_whose_split_files_sit_in_a_subfolder_names_that_subfolder(tmp_path):
    (tmp_path / "conll").mkdir()
    write(tmp_path / "conll", "train.conll", conll([("Ada", "B-PER")]))
    with pytest.raises(DataError, match=r"no train file in this folder; expected a train file \(.conll/.jsonl/"
                                        rf".*; {tmp_path / 'conll'} holds one: name that folder with --data"):
        load_tagged_splits(str(tmp_path))


def test_scheme_is_detected_over_all_files(tmp_path):
    """dev alone has no B-, which would read as IO; train shows the files are IOB1."""
    write(tmp_path, "train.conll", conll([("Ada", "I-PER"), ("Bob", "B-PER")]))
    write(tmp_path, "dev.conll", conll([("Ada", "I-PER"), ("Lovelace", "I-PER")]))
    write(tmp_path, "test.conll", conll([("Ada", "I-PER")]))
    splits = load_tagged_splits(str(tmp_path))
    assert splits.scheme == "IOB1" and splits.dev[0].tags == ("B-PER", "I-PER")


def test_one_file_is_cut_at_random_with_a_seed(tmp_path):
    path = write(tmp_path, "all.conll", conll(*[[(f"w{i}", "O"), ("Ada", "B-PER")] for i in range(50)]))
    a, b = load_tagged_splits(str(path), seed=3), load_tagged_splits(str(path), seed=3)
    assert (len(a.train), len(a.dev), len(a.test)) == (40, 5, 5)  # 10% of the 50 each (dev was 10% of the 45 left)
    assert a.sources["dev"] == f"10% of {path} (random, seed 3)"
    assert a.dev == b.dev and a.dev != load_tagged_splits(str(path), seed=4).dev
    capped = a.cap_train(10, seed=0)
    assert len(capped.train) == 10 and capped.dev == a.dev and "10 of" in capped.sources["train"]


def test_copies_of_a_sentence_are_cut_together(tmp_path):
    sentences = [[(f"w{i}", "O"), ("Ada", "B-PER")] for i in range(60)] + [[("Reuters", "B-ORG"), ("said", "O")]] * 20
    path = write(tmp_path, "all.conll", conll(*sentences))
    for seed in range(5):
        splits = load_tagged_splits(str(path), seed=seed)
        train = {s.tokens for s in splits.train}
        assert not train & {s.tokens for s in splits.dev + splits.test}, seed
        assert ("Reuters", "said") in train  # its type's only sentence stays in train, with all 20 copies
        assert len(splits.train) + len(splits.dev) + len(splits.test) == 80 and 4 <= len(splits.test) <= 8
        assert splits.sources["test"].endswith("; copies of a sentence kept together)")


def test_an_entity_type_in_one_sentence_stays_in_train(tmp_path):
    # a plain shuffled cut sent the one ORG sentence to dev or test in 12 of these 40 seeds, and the run
    # failed naming "10% of t.conll (random, seed 1):61" as if it were a file
    sentences = [[(f"w{i}", "O"), ("Ada", "B-PER")] for i in range(20)] + [[("NASA", "B-ORG")]]
    path = write(tmp_path, "t.conll", conll(*sentences))
    for seed in range(40):
        splits = load_tagged_splits(str(path), seed=seed)
        assert ("NASA",) in [s.tokens for s in splits.train], seed
        assert (len(splits.train), len(splits.dev), len(splits.test)) == (17, 2, 2)
        assert splits.types == ["ORG", "PER"]


def test_too_few_sentences_to_cut_and_keep_every_entity_type(tmp_path):
    path = write(tmp_path, "t.conll", conll([("Ada", "B-PER")], [("NASA", "B-ORG")]))
    with pytest.raises(DataError, match="too few sentences to hold out 1 as test") as info:
        load_tagged_splits(str(path))
    assert info.value.path == str(path)


def test_a_fraction_of_0_gives_an_empty_split_and_says_so(tmp_path):
    path = write(tmp_path, "all.conll", conll(*[[(f"w{i}", "O"), ("Ada", "B-PER")] for i in range(20)]))
    splits = load_tagged_splits(str(path), dev_fraction=0)
    assert splits.dev == [] and len(splits.test) == 2 and len(splits.train) == 18
    assert splits.sources["dev"] == "none (no dev file and dev_fraction 0)"


def test_jsonl_tagging_data_is_recognised(tmp_path):
    assert is_tagging_data(str(write(tmp_path, "t.jsonl", jsonl({"tokens": ["a"], "tags": ["O"]}))))
    assert is_tagging_data(str(write(tmp_path, "e.jsonl", jsonl({"text": "a", "entities": []}))))
    assert not is_tagging_data(str(write(tmp_path, "c.jsonl", jsonl({"text": "a", "label": "x"}))))
    assert is_tagging_data(str(write(tmp_path, "d.jsonl", jsonl({"text": "a", "label": [[0, 1, "X"]]}))))  # doccano
    assert not is_tagging_data(str(write(tmp_path, "m.jsonl", jsonl({"text": "a", "labels": ["x", "y"]}))))  # classes
    # doccano leaves an unannotated text's list empty, in either task's export: the first annotated one decides
    unannotated = {"text": "a", "label": []}
    assert is_tagging_data(str(write(tmp_path, "dn.jsonl", jsonl(unannotated, {"text": "b", "label": [[0, 1, "X"]]}))))
    assert not is_tagging_data(str(write(tmp_path, "dc.jsonl", jsonl(unannotated, {"text": "b", "label": ["pos"]}))))
    assert not is_tagging_data("builtin:trec")
    array = write(tmp_path, "a.json", json.dumps([{"tokens": ["Ada", "ran"], "tags": ["B-PER", "O"]}] * 2, indent=1))
    assert is_tagging_data(str(array)) and [s.lines for s in read_tagged(array)] == [(2, 2), (12, 12)]
    assert not is_tagging_data(str(write(tmp_path, "bad.json", "[{")))  # read as classification, which says why


def test_the_task_data_is_for_is_none_where_reading_it_must_say_what_is_wrong(tmp_path):
    assert data_task(str(write(tmp_path, "c.csv", "text,label\na,x\n"))) == "classification"
    assert data_task(str(write(tmp_path, "c.jsonl", jsonl({"text": "a", "label": "x"})))) == "classification"
    assert data_task(str(write(tmp_path, "t.conll", conll([("Ada", "B-PER")])))) == "tagging"
    assert data_task("builtin:trec") == "classification"
    assert data_task(str(write(tmp_path, "bad.json", "[{"))) is None
    assert data_task(str(write(tmp_path, "undecided.jsonl", jsonl({"text": "a", "label": []})))) is None
    assert data_task(str(tmp_path / "missing.csv")) is None and data_task(str(write(tmp_path, "n.md", "# x"))) is None


@pytest.mark.parametrize("dev, message", [(conll([("Ada", "B-ORG")]), "entity type 'ORG' never occurs in train"),
                                          (None, None)])
def test_types_must_be_seen_in_train(tmp_path, dev, message):
    write(tmp_path, "train.conll", conll([("Ada", "B-PER")], [("x", "O")], [("y", "O")]))
    write(tmp_path, "test.conll", conll([("x", "O")]))
    if dev is None:  # no entity at all in train
        write(tmp_path, "train.conll", conll([("x", "O")]))
        message = "no entity in the training data"
    else:
        write(tmp_path, "dev.conll", dev)
    with pytest.raises(DataError, match=message) as info:
        load_tagged_splits(str(tmp_path))
    assert info.value.path.endswith("dev.conll" if dev else "train.conll")


def test_a_type_unseen_in_train_is_named_in_the_field_the_file_keeps_its_tags_in(tmp_path):
    write(tmp_path, "train.jsonl", jsonl(*[{"words": ["Ada", "x"], "ner": ["B-PER", "O"]}] * 3))
    write(tmp_path, "test.jsonl", jsonl({"words": ["x"], "ner": ["O"]}, {"words": ["NASA"], "ner": ["B-ORG"]}))
    with pytest.raises(DataError, match=r"test.jsonl:2: field 'ner': entity type 'ORG' never occurs in train;"):
        load_tagged_splits(str(tmp_path), NAMED, dev_fraction=0)
    write(tmp_path, "test.jsonl", jsonl({"words": ["Bo"], "ner": ["B-per"]}))
    with pytest.raises(DataError, match=r"type 'per' never occurs in train \('PER' is: they differ only in case\)"):
        load_tagged_splits(str(tmp_path), NAMED, dev_fraction=0)
    write(tmp_path, "train.jsonl", jsonl({"words": ["x"], "ner": ["O"]}))
    with pytest.raises(DataError, match=r"train.jsonl: field 'ner': no entity in the training data"):
        load_tagged_splits(str(tmp_path), NAMED, dev_fraction=0)


# as datasets 5 writes an NER data set's features (conll2003, wikiann): tag ids with ClassLabel names
NER_FEATURES = {"info": {"features": {
    "tokens": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"},
    "ner_tags": {"feature": {"names": ["O", "B-PER", "I-PER"], "_type": "ClassLabel"}, "_type": "List"}}}}


def test_hub_ner_parquet_reads_tag_ids_by_their_class_names(tmp_path):
    columns = {"id": ["0", "1"], "tokens": [["Ada", "Lovelace", "wrote"], ["hi"]], "ner_tags": [[1, 2, 0], [0]]}
    path = write_parquet(tmp_path / "train-00000-of-00001.parquet", columns, NER_FEATURES)
    assert is_tagging_data(str(path)) and is_tagging_data(str(tmp_path))
    sentences = read_tagged(path)
    assert [(s.tokens, s.tags, s.line) for s in sentences] == [
        (("Ada", "Lovelace", "wrote"), ("B-PER", "I-PER", "O"), 1), (("hi",), ("O",), 2)]
    unlabelled = read_tagged(path, TagOptions(labelled=False))  # input to tag: other columns go out with it
    assert unlabelled[0].tags == () and unlabelled[0].others == (("id", "0"), ("ner_tags", [1, 2, 0]))
    plain = write_parquet(tmp_path / "plain.parquet", {"tokens": [["Ada"]], "tags": [["B-PER"]]})  # no metadata
    assert read_tagged(plain)[0].tags == ("B-PER",)
    bad = write_parquet(tmp_path / "bad.parquet", {"tokens": [["Ada"], ["Bo"]], "ner_tags": [[1], [7]]}, NER_FEATURES)
    with pytest.raises(DataError, match=r"bad.parquet:2: field 'ner_tags': tag id 7 names no tag; expected ids 0 to 2"):
        read_tagged(bad)
    nameless = write_parquet(tmp_path / "ids.parquet", {"tokens": [["Ada"]], "ner_tags": [[1]]})
    with pytest.raises(DataError, match="tag ids, and the file's metadata names no tags for them"):
        read_tagged(nameless)
    no_tokens = write_parquet(tmp_path / "c.parquet", {"text": ["a"], "label": ["x"]})
    assert not is_tagging_data(str(no_tokens))
    with pytest.raises(DataError, match="field 'tokens': not found; expected a list of tokens per row"):
        read_tagged(no_tokens)


def test_one_seeds_folds_of_a_tagging_file_test_every_sentence_once(toy_conll: Path) -> None:
    path = str(toy_conll / "train.conll")
    tests = [load_tagged_splits(path, seed=1, folds=4, fold=f) for f in range(4)]
    whole = load_tagged_splits(path, dev_fraction=0, test_fraction=0).train
    assert sorted(s.lines for t in tests for s in t.test) == sorted(s.lines for s in whole)
    for t in tests:
        assert {s.lines for s in t.test}.isdisjoint(s.lines for s in t.train + t.dev) and len(t.dev) == 16
    assert tests[1].sources["test"].startswith(f"fold 1 of folds 0-3 of {path} (spread by rarest entity type, seed 1")
    with pytest.raises(ConfigError, match="folds 4 cuts the test split from train, but the data has a test file"):
        load_tagged_splits(str(toy_conll), folds=4)


def test_a_sentence_of_an_entity_type_no_other_has_stays_in_train_under_folds(toy_conll: Path, tmp_path: Path) -> None:
    """The fold testing it left train without the type: an error about a type train never saw."""
    path = tmp_path / "rare.conll"
    path.write_text((toy_conll / "train.conll").read_text().rstrip("\n") + "\n\nthe\tO\nquasar\tB-RARE\n")
    tests = [load_tagged_splits(str(path), folds=4, fold=f) for f in range(4)]
    assert all("B-RARE" in {t for s in split.train for t in s.tags} for split in tests)
    assert not any("B-RARE" in s.tags for split in tests for s in split.test)
    assert tests[0].sources["test"].endswith("; 1 sentence with an entity type no other has kept in train)")


def test_the_two_sentences_of_a_rare_entity_type_go_to_two_folds(toy_conll: Path, tmp_path: Path) -> None:
    """Folds dealt at random put both in one fold for a fourth of such types, and that fold's run was refused."""
    rare = "".join(f"\n\nthe\tO\nquasar{i}{j}\tB-RARE{i}\n" for i in range(8) for j in range(2))
    path = tmp_path / "rare.conll"
    path.write_text((toy_conll / "train.conll").read_text().rstrip("\n") + rare)
    for seed in range(3):
        tests = [load_tagged_splits(str(path), seed=seed, folds=4, fold=f).test for f in range(4)]
        for i in range(8):
            assert [sum(f"B-RARE{i}" in s.tags for s in test) for test in tests].count(1) == 2


def test_tagged_dev_and_test_shares_that_leave_no_training_data_are_refused(tmp_path):
    path = write(tmp_path, "all.conll", conll(*[[(f"w{i}", "O"), ("Ada", "B-PER")] for i in range(20)]))
    with pytest.raises(ConfigError, match="add up to 1"):
        load_tagged_splits(str(path), dev_fraction=0.5, test_fraction=0.5)
