"""Data folders: a split is one file, the Hub's shards of one, or a folder named for it (save_to_disk)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from conftest import write_parquet

from ctxlearn.data.folders import check_data_exists, find_split_files, split_source
from ctxlearn.data.splits import load_splits
from ctxlearn.data.tagged_splits import is_tagging_data, load_tagged_splits
from ctxlearn.errors import ConfigError, DataError

SENTIMENT = {"info": {"features": {"sentence": {"dtype": "string", "_type": "Value"},
                                   "label": {"names": ["negative", "positive"], "_type": "ClassLabel"}}}}


def _save_to_disk(folder: Path, splits: dict[str, tuple[list[str], list[int]]]) -> Path:
    """A DatasetDict as ``datasets``' save_to_disk lays it out: a folder per split holding its Arrow
    shard and its own JSON files (which are not data)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}))
    for split, (texts, labels) in splits.items():
        write_parquet(folder / split / "data-00000-of-00001.arrow", {"sentence": texts, "label": labels}, SENTIMENT)
        (folder / split / "dataset_info.json").write_text(json.dumps(SENTIMENT["info"]))
        state = {"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}
        (folder / split / "state.json").write_text(json.dumps(state))
    return folder


def test_a_save_to_disk_folder_reads_each_split_from_its_folder_with_class_names(tmp_path: Path) -> None:
    """`DatasetDict.save_to_disk` is how many Hugging Face users keep data; it was refused: no train file."""
    folder = _save_to_disk(tmp_path / "sst", {"train": (["good", "bad", "fine", "awful"], [1, 0, 1, 0]),
                                               "validation": (["nice", "poor"], [1, 0]),
                                               "test": (["great", "sad"], [1, 0])})
    assert find_split_files(folder)["train"] == [folder / "train" / "data-00000-of-00001.arrow"]
    splits = load_splits(str(folder))
    assert [(ex.text, ex.label) for ex in splits.dev] == [("nice", "positive"), ("poor", "negative")]
    assert splits.labels == ["negative", "positive"] and len(splits.train) == 4
    assert splits.sources["test"] == str(folder / "test" / "data-00000-of-00001.arrow")


def test_every_shard_of_a_split_is_read_and_rows_count_on_across_them(tmp_path: Path) -> None:
    """A split in several shards (the Hub's train-00000-of-00002.parquet, ...) was refused."""
    folder = tmp_path / "hub"
    write_parquet(folder / "train-00000-of-00002.parquet", {"text": ["a", "b"], "label": ["x", "y"]})
    write_parquet(folder / "train-00001-of-00002.parquet", {"text": ["c", "d", "e"], "label": ["x", "y", "x"]})
    write_parquet(folder / "test-00000-of-00001.parquet", {"text": ["f", "g"], "label": ["x", "z"]})
    files = find_split_files(folder)
    assert [p.name for p in files["train"]] == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    assert split_source(files["train"]) == str(folder / "train-*-of-00002.parquet")
    err = pytest.raises(DataError, load_splits, str(folder)).value  # test's z: train lacks it
    assert str(err).startswith(f"{folder / 'test-00000-of-00001.parquet'}:2: field 'label': label 'z' never occurs")
    write_parquet(folder / "test-00000-of-00001.parquet", {"text": ["f"], "label": ["y"]})
    splits = load_splits(str(folder))
    assert sorted(ex.line for ex in splits.train + splits.dev) == [1, 2, 3, 4, 5]  # rows of the split, not of a shard


def test_a_split_with_a_shard_missing_is_refused_naming_what_is_there(tmp_path: Path) -> None:
    write_parquet(tmp_path / "train-00000-of-00003.parquet", {"text": ["a"], "label": [0]})
    write_parquet(tmp_path / "train-00002-of-00003.parquet", {"text": ["b"], "label": [1]})
    with pytest.raises(DataError, match=r"the shards of the 'train' split are not all there \(numbers 0, 2 of 3\)"):
        find_split_files(tmp_path)


def test_a_file_named_for_the_split_comes_before_a_folder_of_that_name(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "part-1.jsonl").write_text(json.dumps({"text": "a", "label": "x"}) + "\n")
    (tmp_path / "train.jsonl").write_text(json.dumps({"text": "b", "label": "y"}) + "\n")
    assert find_split_files(tmp_path) == {"train": [tmp_path / "train.jsonl"]}
    (tmp_path / "train.jsonl").unlink()
    (tmp_path / "train" / "part-2.jsonl").write_text(json.dumps({"text": "c", "label": "x"}) + "\n")
    parts = [tmp_path / "train" / "part-1.jsonl", tmp_path / "train" / "part-2.jsonl"]
    assert find_split_files(tmp_path)["train"] == parts
    assert split_source(find_split_files(tmp_path)["train"]) == str(tmp_path / "train")


def test_a_save_to_disk_ner_folder_is_tagging_data_with_tag_names(tmp_path: Path) -> None:
    tags = {"info": {"features": {"tokens": {"_type": "List", "feature": {"dtype": "string", "_type": "Value"}},
                                  "ner_tags": {"_type": "List", "feature": {"names": ["O", "B-PER", "I-PER"],
                                                                            "_type": "ClassLabel"}}}}}
    for split, rows in (("train", [(["Ada", "Lovelace", "wrote"], [1, 2, 0]), (["Bob", "ran"], [1, 0])]),
                        ("test", [(["Ann", "sang"], [1, 0])])):
        write_parquet(tmp_path / split / "data-00000-of-00001.arrow",
                      {"tokens": [r[0] for r in rows], "ner_tags": [r[1] for r in rows]}, tags)
    assert is_tagging_data(str(tmp_path))
    splits = load_tagged_splits(str(tmp_path), dev_fraction=0)
    assert [s.tags for s in splits.test] == [("B-PER", "O")] and splits.types == ["PER"]


def test_a_folder_named_test_that_holds_more_than_data_is_no_split(tmp_path: Path) -> None:
    """A project's test/ folder (code and JSON fixtures) beside train.csv would have been read as the test
    split; a split folder holds data files only (and save_to_disk's own JSON, and hidden files)."""
    (tmp_path / "train.csv").write_text("text,label\na,x\nb,y\n")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "fixture.json").write_text('{"id": 1}')
    (tmp_path / "test" / "test_app.js").write_text("test()")
    assert find_split_files(tmp_path) == {"train": [tmp_path / "train.csv"]}
    (tmp_path / "test" / "test_app.js").unlink()
    (tmp_path / "test" / ".DS_Store").write_text("")
    assert find_split_files(tmp_path)["test"] == [tmp_path / "test" / "fixture.json"]


def test_a_data_argument_that_names_nothing_is_refused_naming_its_flag(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^missing.csv: no such file or folder \(given with --data\); expected a "
                                        r"data file \(csv, .*conll\), a folder of train, dev and test files, or "
                                        r"builtin:NAME$"):
        check_data_exists("missing.csv")
    with pytest.raises(ConfigError, match=r"unknown builtin dataset 'trecc' \(did you mean 'trec'\?\)"):
        check_data_exists("builtin:trecc")
    with pytest.raises(DataError, match=r"^builtin:trec: no such file or folder \(given with --input\); "
                                        r"expected texts$"):
        check_data_exists("builtin:trec", "--input", "texts", builtin=False)  # not an input to label
    for spec in (str(tmp_path), str(write_parquet(tmp_path / "d.parquet", {"text": ["a"]})), "-", "builtin:trec"):
        check_data_exists(spec)  # a folder, a file, standard input and a built-in data set pass


def test_a_folder_whose_train_file_is_of_another_type_names_it(tmp_path: Path) -> None:
    """`--task classification` on a CoNLL folder said there was no train file, beside its train.conll."""
    (tmp_path / "train.conll").write_text("Ada\tB-PER\n")
    with pytest.raises(DataError, match=r"no train file in this folder; .*; train.conll is of another type \(CoNLL is "
                                        r"tagging data: --task tagging, or leave --task auto\)$"):
        load_splits(str(tmp_path))
    (tmp_path / "train.conll").rename(tmp_path / "train.xlsx")
    with pytest.raises(DataError, match=r"; train.xlsx is of another type$"):
        load_splits(str(tmp_path))
    (tmp_path / "train.xlsx").unlink()  # CoNLL-2003 ships as train.txt, space-separated, -DOCSTART- first
    (tmp_path / "train.txt").write_text(CONLL_2003)
    with pytest.raises(DataError, match=r"; train.txt is of another type \(CoNLL is tagging data: --task tagging, "
                                        r"or leave --task auto\)$"):
        load_splits(str(tmp_path))


CONLL_2003 = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n" \
             "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n"


def test_a_data_file_no_split_name_claims_is_warned_of_when_its_split_is_cut_from_train(tmp_path: Path) -> None:
    """eval.csv beside train.csv was passed over without a word, and dev and test were cut from train."""
    rows = "text,label\n" + "".join(f"film {i} was good,pos\nfilm {i} was bad,neg\n" for i in range(10))
    (tmp_path / "train.csv").write_text(rows)
    (tmp_path / "eval.csv").write_text(rows)
    with pytest.warns(UserWarning, match=r"eval.csv not read: a folder's files are read by their names \(train: "
                                         r"train; dev: dev, validation, valid, val; test: test\), so dev and test "
                                         r"are cut from train; rename a file that holds one"):
        load_splits(str(tmp_path))
    (tmp_path / "eval.csv").rename(tmp_path / "dev.csv")
    (tmp_path / "test.csv").write_text(rows)
    (tmp_path / "notes.csv").write_text(rows)
    with warnings.catch_warnings():  # every split has its file: another file is none of its business
        warnings.simplefilter("error")
        load_splits(str(tmp_path))


def test_two_files_of_one_split_are_refused_naming_both(tmp_path: Path) -> None:
    """train.csv beside train.jsonl (the same data converted, the old copy left), or dev.jsonl beside
    validation.jsonl: the first in name order was read and the other passed over without a word."""
    rows = [{"text": "a good film", "label": "pos"}, {"text": "a bad film", "label": "neg"}] * 3
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    (tmp_path / "train.csv").write_text("text,label\nnice,pos\nawful,neg\n")
    with pytest.raises(DataError, match=r"2 files hold the train split: train.csv, train.jsonl; expected one train "
                                        r"file in the folder: move the others out of it"):
        load_splits(str(tmp_path))
    (tmp_path / "train.csv").unlink()
    (tmp_path / "dev.jsonl").write_text((tmp_path / "test.jsonl").read_text())
    (tmp_path / "validation.jsonl").write_text((tmp_path / "test.jsonl").read_text())
    with pytest.raises(DataError, match=r"2 files hold the dev split: dev.jsonl, validation.jsonl"):
        load_splits(str(tmp_path))
    (tmp_path / "validation.jsonl").unlink()
    (tmp_path / "notes.csv").write_text("text,label\nx,pos\n")  # named for no split: no matter
    assert len(load_splits(str(tmp_path)).train) == 6
