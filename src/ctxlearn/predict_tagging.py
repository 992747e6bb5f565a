"""Tagging with a saved run folder: words or raw text in, BIO tags and entity spans out.

Input for ``predict_file``:
  .jsonl  one sentence per line, pre-tokenised {"tokens": [...]} or raw {"text": "..."}
  .conll  one token per line (a tag column, if any, is ignored), blank lines between sentences
  .txt    one raw text per line
  .csv/.tsv  a column of raw texts (``text``, or the field --text-field names), one per row
Raw text is split into words by ``ctxlearn.data.words.split_words`` (runs of letters, digits and
combining marks, apostrophes inside them kept; every other non-space character a word of its own). Each output line
holds the text, its words, their tags and the entities: type, text and character offsets
(``start`` inclusive, ``end`` exclusive) into the raw text, or, for pre-tokenised input, into the
words joined by single spaces. A JSON line's other keys (an id; gold ``tags`` as ``input_tags``) come
after the input's line number, as ``predict.with_inputs`` places them.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ctxlearn.artifact import EVAL, folder_stamp, load_classifier, write_atomically
from ctxlearn.config import load_yaml, split_settings
from ctxlearn.data.example import Fields, TaggedSentence, case_twin
from ctxlearn.data.readers import check_input_type, data_type, file_type, is_text_lines, read_examples, text_lines
from ctxlearn.data.tagged import TAGGED_READERS, TagOptions, read_bio, read_tagged, tag_options
from ctxlearn.data.tagged_splits import TaggedSplits, data_task, load_tagged_splits, tagged_hash
from ctxlearn.data.tags import entity_spans
from ctxlearn.data.words import split_words
from ctxlearn.errors import ConfigError, DataError
from ctxlearn.evaluate.report import entity_errors, write_tagging_report
from ctxlearn.predict import STDOUT, label_file, scored_items, with_inputs, without_line, write_evaluation
from ctxlearn.tasks.tagging import TagPredictions, Tagging, entities, word_logits, write_tag_predictions
from ctxlearn.train.dist import recorded_warnings
from ctxlearn.train.windows import EncodedTags, encode_tags


TEXT_TABLES = ("csv", "tsv")  # read for their column of raw texts: tagged CSV has no common layout


def sentence_of(text: str, line: int = 0) -> TaggedSentence:
    """Raw text -> an unlabelled sentence of its words, with their character offsets."""
    words = split_words(text)
    return TaggedSentence(tuple(w for w, _, _ in words), (), (line,) * len(words), text,
                          tuple((s, e) for _, s, e in words))


class TaggingPredictor:
    """A loaded tagging run folder."""

    part = 2048  # sentences tagged between two progress lines when a file holds more (``label_file``)
    unit = "words"  # what ``batch_labels`` labels

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.model, self.tokenizer, self.labels, self.manifest = load_classifier(self.folder)
        cfg = self.config = load_yaml(self.folder / "config.yaml")
        self.options = tag_options(cfg)
        self.max_length = int(cfg.get("max_length", 128))
        self.bf16 = bool(self.manifest.get("bf16", False))
        self.task = Tagging()

    def use_fields(self, text: str | None = None, label: str | None = None, text_pair: str | None = None) -> None:
        """Read the words from the field ``text`` and the tags from ``label`` (JSON or Parquet) instead of the
        run's; a field left None keeps the run's."""
        if text_pair:
            raise ConfigError(f"--text-pair-field {text_pair}: {self.folder} tags the words of one text; leave "
                              "the flag out")
        given = {k: v for k, v in dict(words_field=text, tags_field=label).items() if v}
        self.options = replace(self.options, **given)

    def use_tag_options(self, **given: Any) -> None:
        """Read labelled files' tags as ``given`` says (``tag_column``, ``tag_scheme``, ``repair_tags``: the
        options set for them, as ``open_predictor`` passes them), instead of as the run read its data."""
        if given:
            read = tag_options({**self.config, **given})  # the scheme's name checked and normalised
            self.options = replace(self.options, tag_column=read.tag_column, scheme=read.scheme, repair=read.repair)

    def predict(self, sentences: list[TaggedSentence]) -> TagPredictions:
        """Tags (valid BIO) and their probabilities for each sentence."""
        return self._predict(encode_tags(sentences, self.tokenizer, None, self.max_length))

    def _predict(self, data: EncodedTags) -> TagPredictions:
        return self.task.predictions(word_logits(self.model, data, self.tokenizer, self.bf16), data, self.labels)

    def predict_texts(self, texts: list[str]) -> list[dict[str, Any]]:
        """Raw texts -> one result each: text, words, tags and entities with character offsets."""
        sentences = [sentence_of(t) for t in texts]  # as a classifier's predict_texts: no input line (it was 0)
        return [without_line(self._row(s, tags)) for s, tags in zip(sentences, self.predict(sentences).tags)]

    def cut(self, spec: str) -> TaggedSplits:
        """The splits of ``spec`` as the run cut them (shares of one file with the run's seed and fractions)."""
        return load_tagged_splits(spec, self.options, **split_settings(self.config))

    def test_split(self, spec: str | Path) -> tuple[list[TaggedSentence], str]:
        """The run's own test split of ``spec`` and where it came from, as ``Predictor.test_split``."""
        splits = self.cut(str(spec))
        return splits.test, splits.sources.get("test", str(spec))

    def evaluate(self, spec: str | Path, out: str | Path | None = None) -> dict[str, Any]:
        """Entity metrics on a labelled file, or on the test split of a data folder or of the file the run
        cut its splits from (cut as the run cut it), read with the run's tag options; with ``out``, the
        report files are written there too."""
        with recorded_warnings() as notes:
            sentences, source = self.labelled(spec)
            self.check_types(sentences, source)
            metrics, predictions = self._scored(sentences)
        if out is not None:
            def fill(folder: Path) -> None:
                write_tag_predictions(folder / "test_predictions.jsonl", sentences, predictions)
                write_tagging_report(folder, {"test": metrics}, write_evaluation(folder, self, spec, source, notes),
                                     entity_errors(sentences, predictions.tags, predictions.scores))

            write_atomically(Path(out), fill, writes=EVAL)
        return metrics

    def labelled(self, spec: str | Path) -> tuple[list[TaggedSentence], str]:
        """The tagged sentences ``evaluate`` and ``export`` score, and where they came from: a held-out file whole;
        the test split of a data folder or of the file the run cut its splits from (cut as the run cut it)."""
        named = self.options.words_field or "text", self.options.tags_field or "label"
        if data_task(str(spec), *named) == "classification":
            raise ConfigError(f"{self.folder} tags words, and {spec} holds classification data (a label per text); "
                              "score it with a run trained on classification data, or give tagging data (.conll, "
                              "JSON Lines with tokens or entities)")
        return scored_items(self, spec, lambda file: read_bio(file, self.options), tagged_hash, lambda s: s.tokens,
                            "sentence")

    def check_types(self, sentences: list[TaggedSentence], source: str) -> None:
        """Refuse gold entities of a type the run never tags, as ``Predictor`` refuses a label it never predicts:
        WNUT-17 with its types upper-cased scored F1 0 against a run's lower-case ones, without a word."""
        known = {tag[2:] for tag in self.labels if tag != "O"}
        for sentence in sentences:
            kind, start = next(((k, i) for k, i, _ in entity_spans(sentence.tags) if k not in known), (None, 0))
            if kind is not None:  # named at the line of the entity's first tag (a CoNLL sentence spans several)
                line = sentence.lines[start] if start < len(sentence.lines) else sentence.line
                raise DataError(source, f"entity type {kind!r} is not one this model tags{case_twin(kind, known)}",
                                line=line or None, field=sentence.tags_field or "tag",
                                expected=f"one of {sorted(known)}")

    def evaluate_examples(self, sentences: list[TaggedSentence], source: str) -> dict[str, Any]:
        """Entity metrics on tagged sentences (``source``: where they came from, as ``Predictor``'s)."""
        return self._scored(sentences)[0]

    def _scored(self, sentences: list[TaggedSentence]) -> tuple[dict[str, Any], TagPredictions]:
        data = encode_tags(sentences, self.tokenizer, None, self.max_length)  # gold tags stay on the sentences
        predictions = self._predict(data)
        return self.task.metrics(predictions, data, self.labels), predictions

    def batch_labels(self, sentences: list[TaggedSentence], batch_size: int) -> np.ndarray:
        """Each word's most likely tag index, the model run on batches of ``batch_size`` (``export``)."""
        data = encode_tags(sentences, self.tokenizer, None, self.max_length)
        return word_logits(self.model, data, self.tokenizer, self.bf16, batch_size).argmax(1)

    def predict_file(self, src: str | Path, dst: str | Path) -> int:
        """Write one JSON line per input sentence (see the module docstring); returns how many."""
        dst = Path(dst)
        if dst.suffix.lower() not in (".jsonl", ".json") and str(dst) != STDOUT:
            raise DataError(dst, "tagging predictions are JSON Lines (entities do not fit in columns)",
                            expected="an output path ending in .jsonl (or .json), or - for standard output")
        def rows(part: list[TaggedSentence]) -> list[dict[str, Any]]:
            return [self._row(s, tags) for s, tags in zip(part, self.predict(part).tags)]

        return label_file(read_unlabelled(Path(src), self.options), rows, dst, folder_stamp(self.folder), self.part)

    @staticmethod
    def _row(sentence: TaggedSentence, tags: list[str]) -> dict[str, Any]:
        text, _ = sentence.char_offsets()
        return with_inputs({"line": sentence.line, "text": text, "tokens": list(sentence.tokens), "tags": tags,
                            "entities": entities(sentence, tags)}, sentence.others)


def read_unlabelled(path: Path, options: TagOptions = TagOptions()) -> list[TaggedSentence]:
    """Sentences to tag from .jsonl (tokens or text, or the field ``options`` names), .conll (tokens), a
    .csv or .tsv column of texts (read as classification's readers read it, its other columns kept), or
    .txt or standard input (``-``), one text per line."""
    if file_type(path) in TEXT_TABLES:  # a spreadsheet's column of texts, as users keep them
        fields = Fields(text=options.words_field or "text", label=None, others=True)
        return [replace(sentence_of(ex.text, ex.line), others=ex.others) for ex in read_examples(path, fields)]
    check_input_type(path, TAGGED_READERS, TEXT_TABLES)
    if not is_text_lines(path) or data_type(path) == "conll":  # a .txt of CoNLL lines (CoNLL-2003's) is tokens
        return read_tagged(path, replace(options, labelled=False))
    return [sentence_of(raw, line) for line, raw in text_lines(path, "sentences to tag")]
