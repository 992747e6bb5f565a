"""inspect_splits and inspect_tagged on hand-made splits; fake tokenizers return token lists of chosen
lengths (no model)."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ctxlearn.data.example import Example
from ctxlearn.data import inspect
from ctxlearn.data.inspect import IMBALANCE_RATIO, format_report, inspect_splits
from ctxlearn.data.splits import Splits


class FakeTokenizer:
    """Callable like a Hugging Face tokenizer: (texts, pairs) -> {"input_ids": [[...], ...]}.
    A text's length is looked up in ``lengths``; a pair adds the length of its second text."""

    def __init__(self, lengths: dict[str, int]) -> None:
        self.lengths = lengths
        self.calls: list[tuple[list[str], list[str] | None]] = []

    def __call__(self, texts, pairs=None):
        self.calls.append((list(texts), None if pairs is None else list(pairs)))
        ids = []
        for i, text in enumerate(texts):
            n = self.lengths[text] + (self.lengths[pairs[i]] if pairs is not None else 0)
            ids.append([7] * n)
        return {"input_ids": ids}


def ex(text: str, label: str, pair: str | None = None) -> Example:
    return Example(text=text, label=label, text_pair=pair)


@pytest.fixture
def any_size_scores(monkeypatch):
    """Hand-made splits of a few examples, without the warning that so few score coarsely."""
    monkeypatch.setattr(inspect, "SMALL_SPLIT", 1)


def test_counts_duplicates_overlap_and_imbalance(any_size_scores):
    train = ([ex(f"good {i}", "pos") for i in range(12)] + [ex("bad 0", "neg"), ex("bad 1", "neg")]
             + [ex("good 0", "pos")])  # one duplicate; 13 pos vs 2 neg is more than 5 to 1
    dev = [ex("dev 0", "pos"), ex("dev 1", "neg")]
    test = [ex("good 3", "pos"), ex("bad 1", "neg"), ex("test 0", "neg")]  # two texts also in train
    splits = Splits(train, dev, test, ["neg", "pos"], {"train": "t.jsonl"})
    report = inspect_splits(splits)

    assert report["labels"] == ["neg", "pos"] and report["pair"] is False
    assert report["sources"] == {"train": "t.jsonl"}
    assert report["splits"]["train"] == {"n": 15, "labels": {"neg": 2, "pos": 13}, "duplicates": 1}
    assert report["splits"]["dev"] == {"n": 2, "labels": {"neg": 1, "pos": 1}, "duplicates": 0}
    assert report["splits"]["test"] == {"n": 3, "labels": {"neg": 2, "pos": 1}, "duplicates": 0}

    warnings = report["warnings"]
    assert len(warnings) == 3
    assert any(w.startswith("train:") and "1 duplicate" in w for w in warnings)
    assert any(w.startswith("train:") and "imbalanced" in w and "13 vs 2" in w for w in warnings)
    assert any(w.startswith("test:") and "2 examples also appear in train" in w for w in warnings)
    assert not any(w.startswith("dev:") for w in warnings)


def test_a_train_text_under_two_labels_is_warned_of_naming_its_lines(any_size_scores):
    """Annotators who disagreed: the same text labelled pos and neg trained with nothing said."""
    train = [Example("fine I guess", "pos", line=2), Example("great", "pos", line=3),
             Example("fine I guess", "neg", line=9), Example("awful", "neg", line=4),
             Example("fine I guess", "pos", line=11)]  # a plain duplicate of line 2 adds no label
    splits = Splits(train, [ex("d", "pos")], [ex("e", "neg")], ["neg", "pos"])
    from ctxlearn.tasks import TASKS

    warned = [w for w in inspect_splits(splits)["warnings"] if "more than one label" in w]
    assert TASKS.get("classification").warnings(splits) == warned  # what train says
    assert warned == ["train: 1 text has more than one label (e.g. 'fine I guess': pos (line 2), neg (line 9)); "
                      "ctxlearn predicts one class per text, so it cannot get every copy right: keep one label per "
                      "text"]
    assert inspect.conflicting_labels([ex("a", "x"), ex("a", "x"), ex("b", "y")]) == []


def test_texts_differing_in_case_or_spacing_under_two_labels_are_warned_of(any_size_scores):
    """An uncased model reads 'Good movie' and 'good  movie' as one input, and the cuts keep them together;
    under two labels they were counted as duplicates, with no word of the conflict."""
    train = [Example("Good movie", "pos", line=2), Example("great", "pos", line=3),
             Example("good  movie", "neg", line=5), Example("awful", "neg", line=4)]
    splits = Splits(train, [ex("d", "pos")], [ex("e", "neg")], ["neg", "pos"])
    from ctxlearn.tasks import TASKS

    warned = [w for w in inspect_splits(splits)["warnings"] if "more than one label" in w]
    assert TASKS.get("classification").warnings(splits) == warned  # what train says
    assert len(warned) == 1 and warned[0].startswith("train: 1 text has more than one label (e.g. 'Good movie': pos "
                                                     "(line 2), neg (line 5), written in other case or spacing); ")
    exact = Splits(train, [ex("d", "pos")], [ex("e", "neg")], ["neg", "pos"], copies="exact")
    assert not [w for w in inspect_splits(exact)["warnings"] if "more than one label" in w]  # two texts, as cut


def test_json_booleans_beside_the_numbers_0_and_1_are_warned_of_as_one_class_two_ways():
    said = inspect.label_warnings(["0", "1", "false", "true"])
    assert said == ["labels 'false' and '0' may be one class written two ways (a JSON boolean and a number) and "
                    "train as 2 classes; if they are one, write it one way",
                    "labels 'true' and '1' may be one class written two ways (a JSON boolean and a number) and "
                    "train as 2 classes; if they are one, write it one way"]
    assert inspect.label_warnings(["false", "true"]) == [] and inspect.label_warnings(["0", "1", "true"])[0].startswith(
        "labels 'true' and '1'")


def test_texts_cut_at_max_length_are_warned_of_past_one_in_twenty():
    assert inspect.cut_short("train", [10] + [5] * 19, 10) is None  # 1 of 20: 5%, not past the line
    said = inspect.cut_short("train", [10, 12] + [5] * 18, 10)
    assert said is not None and said.startswith("train: 2 of 20 texts (10%) fill max_length 10 tokens")


def test_clean_balanced_splits_have_no_warnings(any_size_scores):
    splits = Splits([ex("a", "x"), ex("b", "y"), ex("c", "x")], [ex("d", "y")], [ex("e", "x")], ["x", "y"])
    report = inspect_splits(splits)
    assert report["warnings"] == []
    assert "tokens" not in report["splits"]["train"]
    assert "no warnings" in format_report(report)


def test_dev_and_test_under_100_examples_are_said_to_score_coarsely():
    train = [ex(f"t {i}", "xy"[i % 2]) for i in range(300)]
    dev = [ex(f"d {i}", "xy"[i % 2]) for i in range(100)]  # 100: fine
    test = [ex(f"e {i}", "xy"[i % 2]) for i in range(40)]
    report = inspect_splits(Splits(train, dev, test, ["x", "y"]))
    assert report["warnings"] == ["test: 40 examples (one is 2.5 points of accuracy); scores on so few differ by chance "
                                  "by more than most methods differ: 100 or more score finer (report.md gives "
                                  "accuracy's 95% interval)"]
    report = inspect_splits(Splits(train, dev[:1], test[:0], ["x", "y"]))  # an empty split has nothing to score
    assert [w.split(";")[0] for w in report["warnings"]] == ["dev: 1 example (one is 100.0 points of accuracy)"]


def test_dev_overlap_and_duplicates_in_every_split():
    splits = Splits([ex("a", "x"), ex("b", "y")], [ex("a", "x"), ex("c", "y"), ex("c", "y")],
                    [ex("d", "x"), ex("d", "x"), ex("d", "y")], ["x", "y"])
    report = inspect_splits(splits)
    assert report["splits"]["dev"]["duplicates"] == 1
    assert report["splits"]["test"]["duplicates"] == 2
    assert any(w.startswith("dev:") and "1 example also appears in train" in w for w in report["warnings"])
    assert not any("also appear" in w and w.startswith("test:") for w in report["warnings"])


def test_copies_differing_in_case_or_spacing_count_as_copies_and_are_named():
    """An uncased model reads "What is X ?" and "what is  x ?" as one input: such a test text scores one train holds."""
    splits = Splits([ex("What is X ?", "x"), ex("b", "y"), ex("B", "y")], [ex("c", "x")],
                    [ex("what is  x ?", "x"), ex("b", "y"), ex("e", "y")], ["x", "y"])
    warnings = inspect_splits(splits)["warnings"]
    assert "train: 1 duplicate text, 1 differing only in case or spacing" in warnings
    assert "test: 2 examples also appear in train, 1 differing only in case or spacing (scores will be optimistic)" \
        in warnings
    exact = inspect_splits(replace(splits, copies="exact"))["warnings"]  # a run cut before the rule: as written
    assert "test: 1 example also appears in train (scores will be optimistic)" in exact
    assert not any(w.startswith("train:") and "duplicate" in w for w in exact)


def test_pairs_duplicate_and_overlap_on_text_and_pair_together():
    train = [ex("p", "y", "h1"), ex("p", "n", "h2")]  # same premise, different hypothesis: no duplicate
    test = [ex("p", "y", "h1"), ex("p", "y", "h3")]  # first pair is in train, second is not
    report = inspect_splits(Splits(train, [ex("q", "y", "h")], test, ["n", "y"]))
    assert report["pair"] is True
    assert report["splits"]["train"]["duplicates"] == 0
    assert any(w.startswith("test:") and "1 example also appears" in w for w in report["warnings"])


@pytest.mark.parametrize("big, warned", [(int(IMBALANCE_RATIO) * 2, False), (int(IMBALANCE_RATIO) * 2 + 1, True)])
def test_imbalance_threshold(big, warned):
    # 2 small-class examples: a ratio of exactly IMBALANCE_RATIO is fine, anything above warns
    train = [ex(f"a {i}", "a") for i in range(big)] + [ex("b 0", "b"), ex("b 1", "b")]
    report = inspect_splits(Splits(train, [ex("d", "a")], [ex("t", "b")], ["a", "b"]))
    assert any("imbalanced" in w for w in report["warnings"]) is warned


@pytest.mark.parametrize("labels, warned", [
    (["NEG", "neg", "pos"], ["labels 'NEG' and 'neg' differ only in case and train as 2 classes"]),
    (["neg", "pos", "pos,neg", "pos | neg"], ["label 'pos,neg' joins the classes 'pos' and 'neg'",
                                              "label 'pos | neg' joins the classes 'pos' and 'neg'"]),
    (["a,b", "b", "c"], []),  # 'a' is no class: a label with a comma, not a combination
    (["neg", "pos", "Ham"], []),
    # one number written several ways: a 2-class file of 1/01/+1 and 0/-0/00 trained 5 classes without a word
    (["-0", "0", "00", "1", "01", "+1"], ["labels '-0', '0' and '00' are one number written 3 ways and train as 3 "
                                          "classes", "labels '1', '01' and '+1' are one number written 3 ways and "
                                          "train as 3 classes"]),
    (["-1", "1", "2", "10"], []),
    # R's write.csv writes a missing label NA: it trained as a class, with its own row in the report
    (["NA", "neg", "pos"], ["label 'NA'"]),
    (["N/A", "neg", "null", "pos"], ["labels 'N/A' and 'null'"]),
])
def test_labels_that_look_like_slips_are_warned_of(any_size_scores, labels, warned):
    train = [ex(f"t {i} {lab}", lab) for lab in labels for i in range(2)]
    report = inspect_splits(Splits(train, [ex("d", labels[0])], [ex("e", labels[0])], labels))
    slips = [w for w in report["warnings"] if w.startswith("label")]
    assert [w.split(";")[0].split(":")[0] for w in slips] == warned
    assert inspect.label_warnings(labels) == slips


def test_a_class_of_one_example_among_large_ones_is_named_as_a_likely_slip():
    """A review file whose one row read `2 stars` where the others read `2` trained a sixth class of one
    example, and the only word was an imbalance (107 vs 1) with --class-weights balanced, which would weigh
    that row 80 times over."""
    train = [Example(f"t {i}", str(1 + i % 2), line=i + 2) for i in range(40)] + [Example("u", "2 stars", line=42)]
    held = [ex(f"d {i}", str(1 + i % 2)) for i in range(4)]  # room for all three classes: none of '2 stars'
    report = inspect_splits(Splits(train, held, held, ["1", "2", "2 stars"]))
    assert ("train: 1 class with a single example: '2 stars' (line 42); one example cannot teach a class: if it is "
            "a slip for another class, correct it, else remove the row") in report["warnings"]
    assert not any("imbalanced" in w or "holds no example" in w for w in report["warnings"])  # the lone class aside
    assert inspect.lone_classes(train[:9] + train[-1:]) == []  # among classes of under 10, one is no outlier


def test_a_dev_or_test_split_without_some_classes_says_which():
    """A test file of positives alone scored accuracy 1.0 and macro-F1 1.0 without a word that it held no
    negative: its scores say nothing of that class."""
    labels = ["mid", "neg", "pos"]
    train = [ex(f"t {i} {lab}", lab) for i in range(5) for lab in labels]
    positives = [ex(f"g {i}", "pos") for i in range(3)]
    report = inspect_splits(Splits(train, [ex("d", "neg"), ex("e", "pos"), ex("f", "mid")], positives, labels))
    assert ("test: holds no example of 'mid' and 'neg' (2 of the 3 classes): its scores say nothing of them"
            in report["warnings"])
    assert not any(w.startswith("dev: holds no") for w in report["warnings"])
    dev = [ex("d", "neg"), ex("e", "pos"), ex("f", "pos")]
    assert inspect.missing_classes(Splits(train, dev, positives[:2], labels)) == [  # test: too few to hold all three
        "dev: holds no example of 'mid' (1 of the 3 classes): its scores say nothing of them"]


def test_label_without_train_examples_warns():
    report = inspect_splits(Splits([ex("a", "x"), ex("b", "y")], [ex("c", "x")], [ex("d", "z")], ["x", "y", "z"]))
    assert report["splits"]["train"]["labels"] == {"x": 1, "y": 1, "z": 0}
    assert report["splits"]["test"]["labels"] == {"x": 0, "y": 0, "z": 1}
    assert any("imbalanced" in w and "1 vs 0" in w for w in report["warnings"])


def test_token_stats_from_a_tokenizer(any_size_scores):
    # train: 101 texts of 1..101 tokens, so the q-th percentile is q + 1 exactly
    train = [ex(f"tr {n}", "ab"[n % 2]) for n in range(1, 102)]
    dev = [ex("dv 0", "a"), ex("dv 1", "b"), ex("dv 2", "a")]
    lengths = {e.text: int(e.text.split()[1]) for e in train} | {e.text: 5 for e in dev}
    tok = FakeTokenizer(lengths)
    report = inspect_splits(Splits(train, dev, [], ["a", "b"]), tokenizer=tok, max_length=90)

    t = report["splits"]["train"]["tokens"]
    assert t == {"p50": 51, "p90": 91, "p95": 96, "p99": 100, "mean": 51.0, "max": 101, "over_max": 11}
    assert report["splits"]["dev"]["tokens"] == {"p50": 5, "p90": 5, "p95": 5, "p99": 5, "mean": 5.0, "max": 5,
                                                 "over_max": 0}
    assert "tokens" not in report["splits"]["test"]  # empty split: tokenizer not called for it
    assert tok.calls == [([e.text for e in train], None), ([e.text for e in dev], None)]
    assert ("train: 11 examples longer than max_length 90 will be truncated (train --long-inputs windows reads them "
            "whole)") in report["warnings"]
    assert not any(w.startswith("dev:") for w in report["warnings"])

    text = format_report(report)
    assert "tokens: mean 51.0, p50 51, p90 91, p99 100, max 101" in text
    assert "labels: a, b" in text and "(text pairs)" not in text


def test_token_stats_for_pairs_pass_the_second_texts():
    train = [ex("p1", "y", "h1"), ex("p2", "n", "h2")]
    tok = FakeTokenizer({"p1": 3, "h1": 4, "p2": 10, "h2": 20, "p3": 1, "h3": 1})
    report = inspect_splits(Splits(train, [ex("p3", "y", "h3")], [], ["n", "y"]), tokenizer=tok, max_length=8)
    assert tok.calls[0] == (["p1", "p2"], ["h1", "h2"])
    tokens = report["splits"]["train"]["tokens"]
    assert (tokens["max"], tokens["mean"], tokens["over_max"]) == (30, (7 + 30) / 2, 1)
    assert "(text pairs)" in format_report(report)


def test_format_report_lists_splits_sources_and_warnings():
    splits = Splits([ex("a", "x"), ex("a", "y")], [ex("b", "x")], [ex("c", "y")], ["x", "y"],
                    {"train": "data/train.csv", "dev": "data/dev.csv", "test": "data/test.csv"})
    text = format_report(inspect_splits(splits))
    lines = text.splitlines()
    assert lines[0] == "labels: x, y"
    for name, n in (("train", 2), ("dev", 1), ("test", 1)):
        assert any(line.startswith(name) and f" {n} examples" in line and f"[data/{name}.csv]" in line
                   for line in lines)
    assert "labels: x 1, y 1" in text
    assert "warning: train: 1 duplicate text\n" in text


def test_a_train_split_that_dev_and_test_were_cut_from_is_named_the_rest_of_its_file():
    """inspect named it `[builtin:movie-sentiment]`, all of the data, where report.md says `the rest of` it."""
    cut = "10% of d.csv (stratified, seed 0)"
    splits = Splits([ex("a", "x"), ex("b", "y")], [ex("c", "x")], [ex("d", "y")], ["x", "y"],
                    {"train": "d.csv", "dev": cut, "test": cut})
    assert "train       2 examples  [the rest of d.csv]" in format_report(inspect_splits(splits))


def test_many_classes_are_listed_up_to_twenty_the_most_common_first_in_each_split():
    labels = [f"c{i:02d}" for i in range(25)]
    train = [ex(f"t{i} {j}", lab) for i, lab in enumerate(labels) for j in range(i + 1)]  # c24 the most common
    splits = Splits(train, [ex("d", "c00")], [ex("e", "c01")], labels, {})
    text = format_report(inspect_splits(splits))
    assert text.splitlines()[0] == "labels: " + ", ".join(labels[:20]) + ", and 5 more"
    assert "labels: c24 25, c23 24, c22 23," in text and ", c05 6, and 5 more classes (15 examples)" in text


class FakeWordTokenizer:
    """Pre-split words -> one id per word plus two specials, as a word-level tokenizer would give."""

    def __call__(self, words, is_split_into_words=False):
        assert is_split_into_words
        return {"input_ids": [[1] + [7] * len(w) + [2] for w in words]}


def test_tagging_data_counts_entities_per_type_lengths_duplicates_and_overlap(any_size_scores):
    from ctxlearn.data.example import TaggedSentence
    from ctxlearn.data.inspect import inspect_tagged
    from ctxlearn.data.tagged_splits import TaggedSplits

    def sent(*pairs: str) -> TaggedSentence:
        words = [p.split("/") for p in pairs]
        return TaggedSentence(tuple(w for w, _ in words), tuple(t for _, t in words), tuple(range(len(words))))

    paris = sent("in/O", "paris/B-LOC", "today/O")
    train = [paris, paris, sent("ann/B-PER", "lee/I-PER", "and/O", "bob/B-PER")]
    test = [paris, sent(*(["word/O"] * 9))]
    labels = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    report = inspect_tagged(TaggedSplits(train, [], test, labels, "BIO", {"train": "t.conll"}), FakeWordTokenizer(),
                            max_length=10)
    assert report["labels"] == ["LOC", "PER"] and report["task"] == "tagging"
    assert report["splits"]["train"]["labels"] == {"LOC": 2, "PER": 2}  # ann lee is one entity
    assert report["splits"]["train"]["duplicates"] == 1 and report["splits"]["train"]["tokens"]["max"] == 6
    assert report["splits"]["test"]["tokens"]["over_max"] == 1  # 9 words + 2 specials > 10
    assert report["warnings"] == [
        "train: 1 duplicate sentence",
        "test: 1 sentence longer than max_length 10 tokens are tagged in overlapping windows",
        "test: 1 sentence also appears in train (scores will be optimistic)"]
    text = format_report(report)
    assert "entity types: LOC, PER  (tags read as BIO)" in text and "train       3 sentences  [t.conll]" in text
    assert "      entities: LOC 2, PER 2" in text


def test_tagging_dev_and_test_under_100_gold_entities_are_said_to_score_coarsely():
    from ctxlearn.data.example import TaggedSentence
    from ctxlearn.data.inspect import inspect_tagged, small_tagged
    from ctxlearn.data.tagged_splits import TaggedSplits

    def sentences(n: int, entities: int) -> list[TaggedSentence]:  # ``entities`` PER entities in each sentence
        tags = ("B-PER", "O") * entities
        return [TaggedSentence(tuple(f"w{i}-{j}" for j in range(len(tags))), tags, ()) for i in range(n)]

    splits = TaggedSplits(sentences(10, 1), sentences(50, 2), sentences(40, 1), ["B-PER", "I-PER", "O"], "BIO")
    warned = small_tagged(splits)  # dev: 50 sentences but 100 entities, fine; test: 40 entities
    assert warned == ["test: 40 gold entities (one is 2.5 points of recall); scores on so few differ by chance by "
                      "more than most methods differ: 100 or more score finer"]
    assert warned[0] in inspect_tagged(splits)["warnings"]
    assert small_tagged(TaggedSplits(splits.train, sentences(1, 1), [], splits.labels, "BIO"))[0].startswith(
        "dev: 1 gold entity (one is 100.0 points of recall)")


def test_a_tagging_test_split_without_some_entity_types_says_which():
    """As a test file of positives alone: a test split with no LOC entity scored LOC's F1 as nothing at all."""
    from ctxlearn.data.example import TaggedSentence
    from ctxlearn.data.inspect import inspect_tagged, missing_types
    from ctxlearn.data.tagged_splits import TaggedSplits

    def tagged(*tags: str) -> TaggedSentence:
        return TaggedSentence(tuple(f"w{i}" for i in range(len(tags))), tags, ())

    labels = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    train = [tagged("B-LOC", "O", "B-PER")] * 3
    splits = TaggedSplits(train, [tagged("B-LOC", "B-PER")], [tagged("B-PER", "O", "B-PER")], labels, "BIO")
    said = ["test: holds no entity of type 'LOC' (1 of the 2 types): its scores say nothing of them"]
    assert missing_types(splits) == said and said[0] in inspect_tagged(splits)["warnings"]
    one = TaggedSplits(train, [], [tagged("B-PER")], labels, "BIO")  # one entity cannot hold both types
    assert missing_types(one) == []


def test_cli_inspects_a_conll_folder(toy_conll, capsys):
    from ctxlearn.cli import main

    assert main(["data", "inspect", str(toy_conll), "--model", "", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["labels"] == ["NEG", "POS"] and report["splits"]["train"]["n"] == 160
    assert sum(report["splits"]["train"]["labels"].values()) > 0


def test_cli_reads_data_as_the_task_named_as_train_does(tmp_path, capsys):
    """inspect refused --task ("unrecognized arguments"), so a file auto-detection reads as the other task
    could be inspected only as train would not read it."""
    from ctxlearn.cli import main

    words = tmp_path / "words.jsonl"  # tagging data under names that are not tokens and tags
    words.write_text(json.dumps({"words": ["Ada", "ran"], "ner": ["B-PER", "O"]}) + "\n")
    assert main(["data", "inspect", str(words), "--model", ""]) == 2
    assert "field 'text': not found (nor is 'label')" in capsys.readouterr().err
    assert main(["data", "inspect", str(words), "--model", "", "--task", "tagging"]) == 2
    err = capsys.readouterr().err
    assert "neither 'tokens' nor 'text' among the fields (words, ner)" in err and "--text-field NAME" in err
    rows = [{"words": [name, "ran"], "ner": ["B-PER", "O"]} for name in "ABCDEFGHIJ"]
    words.write_text("".join(json.dumps(row) + "\n" for row in rows))
    for task in ("auto", "tagging"):  # fields named: found as tagging data, and read
        assert main(["data", "inspect", str(words), "--model", "", "--task", task, "--text-field", "words",
                     "--label-field", "ner"]) == 0
        assert "entities: PER 8" in capsys.readouterr().out
    tagged = tmp_path / "tagged.jsonl"
    tagged.write_text(json.dumps({"tokens": ["Ada", "ran"], "tags": ["B-PER", "O"]}) + "\n")
    assert main(["data", "inspect", str(tagged), "--model", "", "--task", "classification"]) == 2
    assert "field 'text': not found" in capsys.readouterr().err


def test_cli_shows_tags_that_train_refuses_as_a_warning_not_an_error(toy_conll, capsys):
    """It stopped at the first I- tag that continued no entity (WNUT-17's dev file has one), so the rest of
    the report took a second run with --repair-tags."""
    from ctxlearn.cli import main

    dev = toy_conll / "dev.conll"
    dev.write_text("word\tI-POS\n\n" + dev.read_text())  # an I- tag with no B- before it, on line 1
    assert main(["data", "inspect", str(toy_conll), "--model", "", "--json"]) == 0
    refused = [w for w in json.loads(capsys.readouterr().out)["warnings"] if "continuing no entity" in w]
    assert len(refused) == 1 and refused[0].startswith(f"{dev}: 1 I- tag continuing no entity (the first on line 1), "
                                                       "which train refuses") and "--repair-tags" in refused[0]
    assert main(["data", "inspect", str(toy_conll), "--model", "", "--json", "--repair-tags"]) == 0
    said = json.loads(capsys.readouterr().out)["warnings"]
    assert not any("continuing no entity" in w for w in said)
    assert any("turned into B- (--repair-tags; the first on line 1)" in w for w in said)  # the reader's own warning


def test_cli_report_keeps_the_readers_warnings_as_train_does(tmp_path, capsys):
    """They went to stderr only, and the report beneath them said "no warnings" (its JSON: [])."""
    from ctxlearn.cli import main

    rows = "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(60))
    (tmp_path / "joined.csv").write_text("text,label\n" + rows + "text,label\n" + rows)  # two files joined with cat
    assert main(["data", "inspect", str(tmp_path / "joined.csv"), "--model", "", "--json"]) == 0
    out = capsys.readouterr()
    said = [w for w in json.loads(out.out)["warnings"] if "repeat the header" in w]
    assert len(said) == 1 and "(line 62" in said[0] and "repeat the header" not in out.err
    assert main(["data", "inspect", str(tmp_path / "joined.csv"), "--model", ""]) == 0
    assert f"warning: {said[0]}" in capsys.readouterr().out


class UnkTokenizer:
    """Words in ``known`` are ids 1.., anything else the unknown id 0, as a WordPiece vocabulary reads
    characters it lacks."""

    unk_token, unk_token_id = "[UNK]", 0

    def __init__(self, known: list[str]) -> None:
        self.ids = {w: i for i, w in enumerate(known, start=1)}

    def __call__(self, texts, pairs=None, is_split_into_words=False):
        words = texts if is_split_into_words else [t.split() for t in texts]
        return {"input_ids": [[self.ids.get(w, 0) for w in ws] for ws in words]}


@pytest.mark.parametrize("unknown, warned", [(2, False), (3, True)])
def test_train_text_the_tokenizer_cannot_read_is_warned_of_past_one_percent(any_size_scores, unknown, warned):
    known = [f"w{i}" for i in range(200)]
    train = [ex(" ".join(known[:100]), "x"), ex(" ".join(known[100:]), "y"), ex("猫 " * unknown, "x")]
    report = inspect_splits(Splits(train, [ex("w1", "y")], [ex("w2", "x")], ["x", "y"]), UnkTokenizer(known))
    said = [w for w in report["warnings"] if "unknown to the model's tokenizer" in w]
    # 200 known tokens and 2 unknown: 2 of 202 is 0.99%, under the line; 3 of 203 is 1.5%
    assert said == ([f"train: 1.5% of the tokens are unknown to the model's tokenizer (3 [UNK], in 1 example), so the "
                     "model cannot tell those characters apart; --model can name one whose vocabulary covers this "
                     "text (a multilingual one, say)"] if warned else [])
    assert inspect.unknown_tokens("train", [[0, 0]], FakeTokenizer({})) is None  # a tokenizer with no unknown token


def test_tagged_train_text_the_tokenizer_cannot_read_is_warned_of(any_size_scores):
    from ctxlearn.data.example import TaggedSentence
    from ctxlearn.data.inspect import inspect_tagged
    from ctxlearn.data.tagged_splits import TaggedSplits

    sentence = TaggedSentence(("北京", "is", "big"), ("B-LOC", "O", "O"), (1, 1, 1))
    report = inspect_tagged(TaggedSplits([sentence], [sentence], [sentence], ["B-LOC", "I-LOC", "O"], "BIO"),
                            UnkTokenizer(["is", "big"]))
    assert [w.split(";")[0] for w in report["warnings"] if "unknown" in w] == [
        "train: 33.3% of the tokens are unknown to the model's tokenizer (1 [UNK], in 1 sentence), so the model "
        "cannot tell those characters apart"]


def test_entity_types_that_differ_only_in_case_are_warned_of(any_size_scores):
    from ctxlearn.data.example import TaggedSentence
    from ctxlearn.data.inspect import inspect_tagged
    from ctxlearn.data.tagged_splits import TaggedSplits
    from ctxlearn.tasks import TASKS

    def sentence(tag: str) -> TaggedSentence:
        return TaggedSentence(("Ada", "ran"), (tag, "O"), (1, 1))

    splits = TaggedSplits([sentence("B-PER"), sentence("B-Per")], [sentence("B-PER")], [sentence("B-Per")],
                          ["B-PER", "B-Per", "I-PER", "I-Per", "O"], "BIO")
    said = ["entity types 'PER' and 'Per' differ only in case and train as 2 types; if they are one, write it one way"]
    assert [w for w in inspect_tagged(splits)["warnings"] if "case" in w] == said
    assert [w for w in TASKS.get("tagging").warnings(splits) if "case" in w] == said  # what train says


def test_cli_cuts_dev_and_test_as_train_would_with_the_same_flags(toy_data, capsys):
    """inspect refused --dev-fraction, --test-fraction and --seed, so it described other splits than the run's."""
    from ctxlearn.cli import main
    from ctxlearn.data.splits import load_splits

    one = toy_data / "train.jsonl"
    assert main(["data", "inspect", str(one), "--model", "", "--json", "--dev-fraction", "0.25", "--test-fraction",
                 "0.2", "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    cut = load_splits(str(one), seed=3, dev_fraction=0.25, test_fraction=0.2)
    assert [report["splits"][s]["n"] for s in ("train", "dev", "test")] == [len(cut.train), len(cut.dev), len(cut.test)]
    assert report["splits"]["dev"]["labels"] == dict(sorted(
        {lab: sum(ex.label == lab for ex in cut.dev) for lab in cut.labels}.items()))
    assert main(["data", "inspect", str(one), "--model", "", "--dev-fraction", "1.5"]) == 2
    assert "dev_fraction must be in [0, 1)" in capsys.readouterr().err


def test_a_sentence_tagged_two_ways_in_train_is_warned_of(any_size_scores):
    """WNUT-17's train holds 11 sentences written twice with different tags ("london fashion week" O once, a
    location once); inspect said only "103 duplicate sentences", where classification names such texts."""
    from ctxlearn.data.example import TaggedSentence
    from ctxlearn.data.inspect import inspect_tagged
    from ctxlearn.data.tagged_splits import TaggedSplits

    words = ("london", "fashion", "week")
    train = [TaggedSentence(words, ("O", "O", "O"), (3, 4, 5)), TaggedSentence(("hi",), ("O",), (7,)),
             TaggedSentence(words, ("B-LOC", "O", "O"), (9, 10, 11)),
             TaggedSentence(words, ("O", "O", "O"), (13, 14, 15))]
    report = inspect_tagged(TaggedSplits(train, train[1:2], train[1:2], ["B-LOC", "I-LOC", "O"], "BIO"))
    assert [w for w in report["warnings"] if "more than one way" in w] == [
        "train: 1 sentence is tagged more than one way (e.g. 'london fashion week', lines 3, 9); a model tags a "
        "sentence one way, so it cannot get every copy right: keep one tagging per sentence"]
    from ctxlearn.tasks import TASKS

    splits = TaggedSplits(train, train[1:2], train[1:2], ["B-LOC", "I-LOC", "O"], "BIO")
    assert any("more than one way" in w for w in TASKS.get("tagging").warnings(splits)), "train says so too"


def test_a_tagging_file_without_blank_lines_is_warned_of(any_size_scores, tmp_path):
    """A CoNLL file with no blank line read as one sentence of 683 words, and inspect said only that long
    sentences are tagged in windows."""
    from ctxlearn.data.inspect import inspect_tagged
    from ctxlearn.data.tagged_splits import load_tagged_splits
    from ctxlearn.data.tagged import TagOptions

    for name in ("train", "dev", "test"):
        lines = ["Ada\tB-PER", "ran\tO", "."] if name != "train" else [f"w{i}\tO" for i in range(300)] + ["Ada\tB-PER"]
        (tmp_path / f"{name}.conll").write_text("\n".join(line if "\t" in line else ".\tO" for line in lines) + "\n")
    report = inspect_tagged(load_tagged_splits(str(tmp_path), TagOptions()))
    assert [w for w in report["warnings"] if "blank line" in w] == [
        "train: a sentence of 301 words (from line 1; train holds 1 sentence); sentences end at a blank line, and a "
        "file without them reads as one sentence: check that blank lines separate them"]
