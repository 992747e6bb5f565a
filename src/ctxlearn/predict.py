"""Prediction and evaluation with a saved run folder."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Hashable

import numpy as np

from ctxlearn.artifact import EVAL, folder_stamp, load_classifier, write_atomically
from ctxlearn.config import check_long_inputs, load_yaml, reading, split_settings
from ctxlearn.data.example import Example, Fields, case_twin, label_name
from ctxlearn.data.folders import same_data
from ctxlearn.data.inspect import count
from ctxlearn.data.readers import READERS, check_input_type, data_type, is_text_lines, read_examples, text_lines
from ctxlearn.data.splits import Splits, content_hash, load_splits
from ctxlearn.data.tagged_splits import is_tagging_data
from ctxlearn.errors import ConfigError, CtxlearnError, DataError, EmptyText
from ctxlearn.evaluate import classification_metrics
from ctxlearn.evaluate.decision import Threshold, decide, parse_threshold
from ctxlearn.runs import EVALUATION
from ctxlearn.tasks.classification import class_logits, predict_proba, write_scored
from ctxlearn.train.dist import part_progress, recorded_warnings, say, warn
from ctxlearn.train.encode import encode, token_lengths


class Predictor:
    """A loaded run folder that maps examples to class probabilities. ``long_inputs`` overrides how the
    run reads a text longer than its ``max_length`` (``train.encode``): a model trained on truncated
    texts can predict with windows ("train short, test long")."""

    part = 2048  # inputs labelled between two progress lines when a file holds more (``label_file``)
    unit = "examples"  # what ``batch_labels`` labels
    threshold: Threshold | None = None  # how probabilities become labels (``use_threshold``); None: the most probable
    skip_empty = False  # whether ``predict_file`` leaves out rows without text (``--skip-empty``) or refuses them

    def __init__(self, folder: str | Path, long_inputs: str | None = None) -> None:
        self.folder = Path(folder)
        self.model, self.tokenizer, self.labels, self.manifest = load_classifier(self.folder)
        cfg = self.config = load_yaml(self.folder / "config.yaml")
        self.fields = Fields(cfg.get("text_field", "text"), cfg.get("label_field", "label"),
                             cfg.get("text_pair_field")).for_model(bool(self.manifest.get("text_pairs")))
        self.max_length = int(cfg.get("max_length", 128))
        chosen = check_long_inputs(long_inputs or cfg.get("long_inputs", "truncate"))
        self.long_inputs = reading(chosen, "predict")  # how this reads texts: truncate or windows
        self.bf16 = bool(self.manifest.get("bf16", False))

    def use_threshold(self, spec: str | None) -> None:
        """Label by ``--threshold CLASS=P`` (``evaluate.decision``) in place of the most probable class."""
        self.threshold = parse_threshold(spec, self.labels, str(self.folder)) if spec else None

    def use_fields(self, text: str | None = None, label: str | None = None, text_pair: str | None = None) -> None:
        """Read inputs from other columns or keys than the run was trained on (a held-out file with its own
        header); a field left None keeps the run's."""
        if text_pair and not self.fields.reads_pairs:
            raise ConfigError(f"--text-pair-field {text_pair}: {self.folder} was trained on single texts, so it "
                              "reads one text field; leave the flag out")
        if text and not text_pair and self.fields.pairs:  # the pair was found by its names, which --text-field leaves
            raise ConfigError(f"--text-field {text}: {self.folder} was trained on text pairs; name the second text's "
                              "field with --text-pair-field too")
        given = {k: v for k, v in dict(text=text, label=label, text_pair=text_pair).items() if v}
        self.fields = replace(self.fields, **given)

    def predict_proba(self, examples: list[Example]) -> np.ndarray:
        data = encode(examples, self.tokenizer, None, self.max_length, self.long_inputs)
        return predict_proba(self.model, data, self.tokenizer, self.bf16)

    def batch_labels(self, examples: list[Example], batch_size: int) -> np.ndarray:
        """Each example's predicted class index, the model run on batches of ``batch_size`` (``export``
        compares batch sizes: int8 activations are scaled per batch)."""
        data = encode(examples, self.tokenizer, None, self.max_length, self.long_inputs)
        return class_logits(self.model, data, self.tokenizer, self.bf16, batch_size).argmax(1)

    def predict_texts(self, texts: list[str] | list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Texts, or (text, text_pair) tuples for a run trained on pairs, to one row each as ``predict_file``
        writes them: the text (and pair), the label and every class's probability (``p_<label>``)."""
        examples = [self.as_example(item, i) for i, item in enumerate(texts)]
        return [without_line(self._row(ex, p)) for ex, p in zip(examples, self.predict_proba(examples))]

    def as_example(self, item: Any, i: int) -> Example:
        """Input ``i`` of a batch (a string, or a (text, text_pair) tuple for a pair run) as an unlabelled example."""
        pairs = self.fields.reads_pairs
        if pairs and isinstance(item, tuple) and len(item) == 2 and all(isinstance(t, str) for t in item):
            return Example(item[0], "", item[1])
        if not pairs and isinstance(item, str):
            return Example(item, "")
        want = "a (text, text_pair) tuple of two strings" if pairs else "a string"
        trained = "text pairs" if pairs else "single texts"
        raise ConfigError(f"predict_texts: item {i} is {type(item).__name__} {item!r:.60}; {self.folder} was trained "
                          f"on {trained}, so give {want}")

    def cut(self, spec: str | Path) -> Splits:
        """The splits of ``spec`` as the run cut them: its files, or shares of one file with the run's seed,
        fractions and rule for copies (a run saved before the rule was recorded kept exact copies together)."""
        return load_splits(str(spec), self.fields, **split_settings(self.config),
                           copies=self.manifest.get("split_copies", "exact"))

    def test_split(self, spec: str | Path) -> tuple[list[Example], str]:
        """The run's own test split of ``spec``, and where it came from: the test file of a data folder or
        builtin:NAME, or the share cut from a single file with the run's seed and fractions."""
        splits = self.cut(spec)
        return splits.test, splits.sources.get("test", str(spec))

    def evaluate(self, spec: str | Path, out: str | Path | None = None) -> dict[str, Any]:
        """Metrics on a labelled file (all of it: a held-out file); for a data folder, builtin:NAME or the
        file the run cut its splits from, on its test split (``test_split``, so it is the run's own). With
        ``out``, the report files (``write_evaluation``) are written there too."""
        with recorded_warnings() as notes:
            examples, source = self.labelled(spec)
            self.warn_of_cuts(examples, source)  # here, not in _scored: export times repeated passes of that
            metrics, probs = self._scored(examples, source)
        if out is not None:
            write_atomically(Path(out), writes=EVAL, fill=lambda folder: write_scored(
                folder, examples, probs, {"test": metrics}, write_evaluation(folder, self, spec, source, notes),
                self.labels, self.threshold))
        return metrics

    def labelled(self, spec: str | Path) -> tuple[list[Example], str]:
        """The labelled examples ``evaluate`` and ``export`` score, and where they came from: a held-out file
        whole; the test split of a data folder, builtin:NAME or the file the run cut its splits from."""
        if is_tagging_data(str(spec)):
            raise ConfigError(f"{self.folder} labels whole texts, and {spec} holds tagging data; score it with a "
                              "run trained on tagging data")
        return scored_items(self, spec, lambda file: read_examples(file, self.fields), content_hash,
                            lambda ex: (ex.text, ex.text_pair))

    def evaluate_examples(self, examples: list[Example], source: str) -> dict[str, Any]:
        """Metrics on labelled examples; ``source`` names where they came from in errors."""
        return self._scored(examples, source)[0]

    def _scored(self, examples: list[Example], source: str) -> tuple[dict[str, Any], np.ndarray]:
        index = {label_name(lab): i for i, lab in enumerate(self.labels)}  # a run saved its "3.0" before it read "3"
        for ex in examples:
            if ex.label not in index:
                raise DataError(source, f"label {ex.label!r} is not one this model predicts"
                                f"{case_twin(ex.label, self.labels)}", line=ex.line,
                                field=self.fields.label, expected=f"one of {self.labels}")
        y = np.array([index[ex.label] for ex in examples])
        probs = self.predict_proba(examples)
        return classification_metrics(y, probs, self.labels, self.threshold), probs

    def predict_file(self, src: str | Path, dst: str | Path) -> int:
        """Write one row per input with the predicted label and every class probability; returns how many."""
        def rows(part: list[Example]) -> list[dict[str, Any]]:
            return [self._row(ex, p) for ex, p in zip(part, self.predict_proba(part))]

        examples = read_unlabelled(Path(src), self.fields, self.skip_empty)
        self.warn_of_cuts(examples, str(src))
        return label_file(examples, rows, Path(dst), self.run_key(), self.part)

    def warn_of_cuts(self, examples: list[Example], source: str) -> None:
        """Warn of texts longer than the run's max_length, which it reads only to their start (truncating, as
        it was trained, by default): a model trained on short texts labels long ones by their first words."""
        if self.long_inputs != "truncate" or not examples:
            return
        cut = sum(n > self.max_length for n in token_lengths(examples, self.tokenizer))
        if cut:
            n, verb = f"{len(examples):,} text" + ("s" if len(examples) > 1 else ""), "is" if cut == 1 else "are"
            warn(f"{source}: {cut:,} of {n} ({cut / len(examples):.1%}) {verb} longer than the run's max_length of "
                 f"{self.max_length} tokens and {verb} read to {'its' if cut == 1 else 'their'} start only; "
                 "--long-inputs windows reads them whole")

    def run_key(self) -> str:
        """What a kept part of ``predict_file``'s output depends on besides its inputs: the run, how it reads, and
        how probabilities become labels (a rerun with another --threshold kept the old rule's labels)."""
        return f"{folder_stamp(self.folder)}|{self.long_inputs}|{self.threshold}"

    def _row(self, ex: Example, p: np.ndarray) -> dict[str, Any]:
        row: dict[str, Any] = {"line": ex.line, "text": ex.text}  # the input's line, as tagging predictions give
        if ex.text_pair is not None:
            row["text_pair"] = ex.text_pair
        row["label"] = self.labels[int(decide(p[None], self.labels, self.threshold)[0])]
        row.update({f"p_{lab}": round(float(v), 6) for lab, v in zip(self.labels, p)})
        return with_inputs(row, ex.others)


def write_evaluation(folder: Path, predictor: Any, spec: str | Path, source: str,
                     notes: list[str] | None = None) -> dict[str, Any]:
    """Write ``folder``'s eval.json (the run, the data, what of it was scored, and the warnings ``notes``
    given on the way) and return it: the report reads it in place of a run's manifest."""
    m = predictor.manifest
    record = {"evaluates": str(predictor.folder), "method": m.get("method"), "model": m.get("model"),
              "seed": m.get("seed"), "data": str(spec), "scored": source, "warnings": list(notes or []),
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (folder / EVALUATION).write_text(json.dumps(record, indent=1))
    return record


def without_line(row: dict[str, Any]) -> dict[str, Any]:
    """An output row as ``predict_texts`` gives it: texts from Python have no input line."""
    return {k: v for k, v in row.items() if k != "line"}


def with_inputs(row: dict[str, Any], others: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """``row`` with the input row's other columns after its line, each as it was named, or as
    ``input_NAME`` where the output has that name already (a gold ``label`` beside the predicted one;
    ``input_input_NAME`` where the input has an ``input_NAME`` too, whose values were lost under it)."""
    taken = set(row) | {k for k, _ in others}
    inputs: dict[str, Any] = {}
    for key, value in others:
        name = key
        while name in row or (name != key and name in taken) or name in inputs:
            name = f"input_{name}"
        inputs[name] = value
    return {"line": row["line"], **inputs, **{k: v for k, v in row.items() if k != "line"}}


def scored_items(predictor: Any, spec: str | Path, read: Callable[[Path], list], hash_of: Callable[[list], str],
                 key: Callable[[Any], Hashable], noun: str = "example") -> tuple[list, str]:
    """What eval and export score of ``spec``, and where it came from: the run's test split of the file it cut
    its splits from (``hash_of`` knows it), a held-out file whole (``read``; said where it holds rows the run
    trained on, ``key`` telling two apart), or a data folder's or builtin:NAME's test split."""
    path = Path(spec)
    own = own_test_split(path, predictor.manifest, predictor.cut, hash_of)
    if own is not None:
        return own, f"the test split of {path}"
    if path.is_file():
        items = read(path)
        warn_of_training_rows(predictor, items, str(path), key, noun)
        return items, str(path)
    items, source = predictor.test_split(spec)
    warn_of_a_changed_test(predictor, spec, items, source, hash_of(items), noun)
    return items, source


def warn_of_a_changed_test(predictor: Any, spec: str | Path, items: list, source: str, sha: str, noun: str) -> None:
    """Say so when the run's own data (a folder or builtin:NAME) now holds another test split than the one it
    was scored on (a test file edited since): eval's scores then differ from its report.md."""
    manifest = predictor.manifest
    if not same_data(spec, manifest.get("data")) or sha == manifest.get("data_sha256", {}).get("test"):
        return
    then = manifest.get("data_sizes", {}).get("test")
    warn(f"{source}: the test split has changed since {predictor.folder} was trained on it ({count(len(items), noun)} "
         f"now{f', {then:,} then' if then is not None else ''}), so its scores differ from the run's report.md")


def warn_of_training_rows(predictor: Any, items: list, source: str, key: Callable[[Any], Hashable],
                          noun: str = "example") -> None:
    """Say so when ``TRAINED_SHARE`` or more of a held-out file's ``items`` (``key``: what makes two the same)
    are ones the run trained on (the wrong file of a data folder): found where the run's data still cuts to
    the train split it hashed."""
    data, config = predictor.manifest.get("data"), predictor.config
    if not data:
        return
    try:
        splits = predictor.cut(str(data)).cap_train(config.get("max_train", 0), config.get("seed", 0))
    except (CtxlearnError, OSError):  # the run's data moved or changed shape: nothing to compare with
        return
    if splits.hashes["train"] != predictor.manifest.get("data_sha256", {}).get("train"):
        return
    seen = {key(x) for x in splits.train}
    n = sum(key(x) in seen for x in items)
    if items and n >= TRAINED_SHARE * len(items):
        warn(f"{source}: {n:,} of {count(len(items), noun)} ({100 * n / len(items):.1f}%) are ones the run trained on "
             f"(the train split of {data}); scores on them flatter it: score a held-out file, or --data {data} for "
             "the run's test split")


def own_test_split(path: Path, manifest: dict[str, Any], cut: Callable[[str], Any],
                   hash_of: Callable[[list[Any]], str]) -> list[Any] | None:
    """The run's test split when ``path`` is the file the run cut its splits from (all of it would score
    training rows too), else None. ``cut`` splits a file as the run did; ``hash_of`` hashes a split."""
    if not path.is_file():
        return None
    try:
        test = cut(str(path)).test
    except CtxlearnError:  # a file too small or too uniform to cut is not one a run was cut from
        return None
    if hash_of(test) != manifest.get("data_sha256", {}).get("test"):
        if path.name == Path(str(manifest.get("data", ""))).name:
            warn(f"{path} has the name of the file this run cut its splits from ({manifest['data']}), but not the "
                 "run's test split (the file has changed, or another ctxlearn version cut it): scoring every row, "
                 "which may include rows the run trained on")
        return None
    say(f"{path} is the file this run was trained on; scoring its test split ({count(len(test), 'row')}, cut as "
        "the run cut it), not its training rows. Give a held-out file to score other data.")
    return test


def open_predictor(folder: str | Path, long_inputs: str | None = None,
                   fields: dict[str, str | None] | None = None, threshold: str | None = None,
                   skip_empty: bool = False, tags: dict[str, Any] | None = None) -> Any:
    """The right predictor for a run folder: fine-tuned classifier, in-context learning, or a tagger
    (``TaggingPredictor``: tags and entity spans instead of class probabilities). ``long_inputs``
    (a fine-tuned classifier's only) overrides the run's own way of reading long texts; ``fields``
    (``text``, ``label``, ``text_pair``) the columns or keys it reads; ``threshold`` (``CLASS=P``, a
    classifier's) how it turns probabilities into labels; ``skip_empty`` (a text classifier's) whether
    ``predict_file`` leaves out rows without text rather than refuse them; ``tags`` (``tag_column``,
    ``tag_scheme``, ``repair_tags``; a tagger's) how labelled files are read, where not as the run read its data."""
    from ctxlearn.artifact import read_manifest

    manifest = read_manifest(Path(folder))
    kind = "icl" if manifest.get("method") == "icl" else manifest.get("task", "classification")
    if long_inputs and kind != "classification":
        why = "it always reads long sentences in windows" if kind == "tagging" else "it cuts prompts to the LM's context"
        raise ConfigError(f"{folder}: --long-inputs is for fine-tuned classifiers, not {kind} runs ({why}); "
                          "leave the flag out")
    if threshold and kind == "tagging":
        raise ConfigError(f"{folder}: --threshold is for runs that label whole texts; a tagging run gives each word "
                          "its most probable tag that keeps the BIO sequence valid. Leave the flag out")
    if skip_empty and kind == "tagging":
        raise ConfigError(f"{folder}: --skip-empty is for runs that label whole texts; a tagging run refuses a "
                          "sentence without words at its line. Leave the flag out, and remove such rows")
    fields = {k: v for k, v in (fields or {}).items() if v}
    tags = {k: v for k, v in (tags or {}).items() if v is not None and v is not False}
    if tags and kind != "tagging":
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in tags)
        raise ConfigError(f"{folder}: {flags} read tagging files, and this run labels whole texts; leave it out")
    if manifest.get("method") == "icl":
        from ctxlearn.icl.predictor import IclPredictor

        predictor: Any = IclPredictor(folder)
    elif manifest.get("task") == "tagging":
        from ctxlearn.predict_tagging import TaggingPredictor

        predictor = TaggingPredictor(folder)
        predictor.use_tag_options(**tags)
    else:
        predictor = Predictor(folder, long_inputs)
    predictor.use_fields(**fields)
    predictor.skip_empty = skip_empty
    if threshold:
        predictor.use_threshold(threshold)
    return predictor


def tsv_rows(rows: list[dict[str, Any]], dst: Path) -> list[dict[str, Any]]:
    """Rows whose text values have no tab or line break, which unquoted TSV cannot hold: each run of
    them becomes one space (said on stderr; .csv or .jsonl keep the text as it is)."""
    changed = 0

    def clean(v: Any) -> Any:
        nonlocal changed
        if isinstance(v, str) and any(c in v for c in "\t\r\n"):
            changed += 1
            return re.sub(r"[\t\r\n]+", " ", v)
        return v

    out = [{k: clean(v) for k, v in r.items()} for r in rows]
    if changed:
        print(f"[ctxlearn] {dst}: {changed} values held tabs or line breaks, which TSV cannot; each run became one "
              "space (write .csv or .jsonl to keep them)", file=sys.stderr)
    return out


def read_unlabelled(src: Path, fields: Fields, skip_empty: bool = False) -> list[Example]:
    """Texts to label: the rows of a .csv, .tsv or .jsonl file read with ``fields``, or the non-blank
    lines of a .txt file or of standard input (``-``), one text each (single-text models). A row without
    text is refused, or with ``skip_empty`` left out (``without_text``)."""
    check_input_type(src, READERS)
    if not is_text_lines(src):
        try:
            return without_text(read_examples(src, replace(fields, label=None, others=True, blank=skip_empty)), src)
        except EmptyText as err:
            raise DataError(err.path, err.problem, line=err.line, field=err.field, expected=f"{err.expected} (or pass "
                            "--skip-empty to label the other rows and leave out those without text)") from None
    if fields.reads_pairs:
        raise DataError(src, "a .txt file (or -, standard input) holds one text per line, and this model reads pairs",
                        expected=f"a file of rows ({', '.join(READERS.names())}) with {fields.pair_names()}")
    if data_type(src) == "conll":  # a token and its tag a line: each line would be labelled as a text
        raise DataError(src, "holds CoNLL tagging data (a token and its tag a line), and this run labels whole texts",
                        expected="one text a line, or a run trained for tagging (train --task tagging)")
    return [Example(raw, "", line=line) for line, raw in text_lines(src, "texts to label")]


def without_text(examples: list[Example], src: Path) -> list[Example]:
    """``examples`` less those whose text (or either text of a pair) is empty, which only ``Fields.blank``
    reads: a warning names their lines, which the output then lacks (each output row names its line)."""
    has_text = [bool(ex.text) and ex.text_pair != "" for ex in examples]
    if all(has_text):
        return examples
    kept = [ex for ex, ok in zip(examples, has_text) if ok]
    left = [ex.line for ex, ok in zip(examples, has_text) if not ok]
    if not kept:
        raise DataError(src, f"no row has text ({count(len(left), 'row')} without)", expected="rows with text to label")
    shown = ", ".join(map(str, left[:SHOWN_LINES])) + (", ..." if len(left) > SHOWN_LINES else "")
    lines, them = ("lines", "them") if len(left) > 1 else ("line", "it")
    warn(f"{src}: left out {count(len(left), 'row')} without text ({lines} {shown}); the output has no row for {them}")
    return kept


SHOWN_LINES = 5  # of the rows without text that --skip-empty left out
TRAINED_SHARE = 0.05  # of a held-out file in the run's train split, said: real test sets hold copies (TREC's: 2%)


STDOUT = "-"  # --output - writes JSON Lines to standard output
WRITERS = (".csv", ".tsv", ".jsonl", ".json")  # the output types ``write_rows`` knows (.json: one JSON array)


def check_output(dst: Path) -> None:
    """Refuse an output type ``write_rows`` cannot write, before any input is labelled."""
    if str(dst) != STDOUT and dst.suffix.lower() not in WRITERS:
        raise DataError(dst, f"cannot write predictions as '{dst.suffix or dst.name}'",
                        expected="an output path ending in .csv, .tsv, .jsonl or .json, or - for standard output")


def check_not_input(src: str | Path, dst: str | Path) -> None:
    """Refuse an output path that is the input file: writing the predictions would replace the data."""
    src, dst = Path(src), Path(dst)
    if str(dst) != STDOUT and src.is_file() and dst.exists() and src.samefile(dst):
        raise ConfigError(f"--output {dst} is the --input file, and writing there would replace the texts with "
                          f"their predictions; give another path, e.g. {dst.with_stem(dst.stem + '-predicted')}")


def label_file(items: list, rows: Callable[[list], list[dict[str, Any]]], dst: Path, run_key: str, part: int) -> int:
    """Write ``rows(items)`` (one output row per item) to ``dst`` (``write_rows``); returns how many.

    More than ``part`` items are labelled ``part`` at a time, with a progress line and ETA after each,
    and each part's rows are kept in ``DST.partial/`` under a hash of ``run_key`` and the part's items
    until the output is written: rerunning an interrupted command labels only the parts it lacks, and
    never reads a part that another run, or other inputs, produced. Standard output keeps no parts."""
    check_output(dst)
    keep = None if str(dst) == STDOUT else dst.with_name(dst.name + ".partial")
    if len(items) <= part:
        out = rows(items)
    else:
        out, kept, start = [], 0, time.time()
        for lo in range(0, len(items), part):
            chunk = items[lo:lo + part]
            key = hashlib.sha256("\n".join([run_key, *map(repr, chunk)]).encode()).hexdigest()[:32]
            path = keep / f"{key}.jsonl" if keep else None
            if path is not None and path.is_file():
                out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
                kept += len(chunk)
            else:
                out += rows(chunk)
                if path is not None:
                    write_rows(path, out[lo:])
            say(part_progress(lo + len(chunk), len(items), kept, time.time() - start, "labelled", str(keep)))
    write_rows(dst, out)
    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)
    return len(out)


def write_rows(dst: Path, rows: list[dict[str, Any]]) -> None:
    """CSV for .csv, TSV for .tsv, one JSON array for .json (an object a line, which pandas' ``read_json``
    and ``json.load`` read whole), JSON Lines otherwise (and for ``-``, on standard output); a file is
    written to a temporary name and renamed."""
    if str(dst) == STDOUT:
        _write(sys.stdout, rows, dst, ".jsonl")
        sys.stdout.flush()
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            _write(fh, rows, dst, dst.suffix.lower())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(dst)


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every key of ``rows``, each row's in its order: JSON Lines input may give a key in some rows only
    (``id`` in the second), which goes after the key it follows there, so input columns stay before the
    predictions. The first row's keys alone made the CSV writer fail after the labelling was done."""
    cols: list[str] = []
    last: list[str] = []
    for row in rows:
        keys = list(row)
        if keys == last:
            continue
        at = -1
        for key in keys:
            if key in cols:
                at = cols.index(key)
            else:
                at += 1
                cols.insert(at, key)
        last = keys
    return cols


def _write(fh: Any, rows: list[dict[str, Any]], dst: Path, suffix: str) -> None:
    if suffix == ".json":
        fh.write("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n")
        return
    if suffix not in {".csv", ".tsv"}:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        return
    if suffix == ".csv":
        writer = csv.DictWriter(fh, fieldnames=columns(rows))
    else:  # as ctxlearn (and GLUE) read TSV: no quoting, quotes are text
        writer = csv.DictWriter(fh, fieldnames=columns(rows), delimiter="\t", quoting=csv.QUOTE_NONE,
                                quotechar=None, lineterminator="\n")
        rows = tsv_rows(rows, dst)
    writer.writeheader()
    writer.writerows(rows)
