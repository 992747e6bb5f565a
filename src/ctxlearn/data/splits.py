"""Turn a data argument (file, folder or builtin:NAME) into train/dev/test splits with content hashes."""
from __future__ import annotations

import hashlib
import json
import math
import random
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Container, Iterable, Sequence, TypeVar

from ctxlearn.config import split_settings
from ctxlearn.data.example import Example, Fields, are_scores, case_twin
from ctxlearn.data.folders import data_folder_files, read_split, split_source
from ctxlearn.data.readers import READERS, read_examples
from ctxlearn.errors import ConfigError, DataError

T = TypeVar("T")
MANY_SINGLE_LABELS = 20  # labels seen once, above which (and above half the examples) a label column is refused
# what makes two examples copies that a cut keeps on one side: "folded", the same text up to case and spacing (an
# uncased model reads "What is X ?" and "what is  x ?" as one input); "exact", the rule of runs saved before it
COPY_RULES = ("folded", "exact")


@dataclass
class Splits:
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    labels: list[str]
    sources: dict[str, str] = field(default_factory=dict)  # split -> file it came from (or how it was made)
    copies: str = "folded"  # the COPY_RULES rule the cuts kept copies together by, for the manifest

    @property
    def is_pair(self) -> bool:
        return self.train[0].text_pair is not None

    def cap_train(self, n: int, seed: int) -> "Splits":
        """At most ``n`` training examples, a stratified seeded sample that keeps every label (dev and
        test unchanged)."""
        if not n or n >= len(self.train):
            return self
        # a count, not the share 1 - n/N: sklearn rounds a share up and then keeps n - 1 (999 of 2998 for 1000)
        keep, _, how = _cut(self.train, len(self.train) - n, seed)
        if len(keep) > n:  # only when n is below the number of labels: each keeps one example
            raise ConfigError(f"max_train {n} is below the {len(self.labels)} labels of {self.sources.get('train')}, "
                              f"and every label needs a training example: use max_train >= {len(self.labels)} or 0")
        sources = {**self.sources, "train": f"{n} of {self.sources.get('train', 'train')} ({how})"}
        return Splits(keep, self.dev, self.test, self.labels, sources, self.copies)

    @cached_property
    def hashes(self) -> dict[str, str]:
        return {name: content_hash(getattr(self, name)) for name in ("train", "dev", "test")}


def content_hash(examples: list[Example]) -> str:
    """sha256 of the examples' content (not of file bytes), so reformatting a file keeps the hash."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex.text, ex.text_pair, ex.label], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def copy_key(copies: str) -> Callable[[Example], tuple[str | None, str | None]]:
    """What two examples share when they are copies under the rule ``copies`` (one of ``COPY_RULES``)."""
    if copies not in COPY_RULES:
        raise ValueError(f"copies {copies!r}: one of {COPY_RULES}")
    if copies == "exact":
        return lambda ex: (ex.text, ex.text_pair)
    return lambda ex: (_folded(ex.text), _folded(ex.text_pair))


def _folded(text: str | None) -> str | None:
    return None if text is None else " ".join(text.casefold().split())


def label_order(labels: set[str]) -> list[str]:
    """Integer labels sort numerically ("2" before "10"); names sort alphabetically."""
    # isdecimal, not isdigit: "²" is a digit that int() rejects; removeprefix: "--1" is no integer
    if all(lab.removeprefix("-").isdecimal() for lab in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def _unread_fields(spec: str, fields: Fields) -> None:
    """Warn of field flags given for built-in data, whose fields are its own: they were passed over unsaid."""
    default = Fields()
    given = [f"--{role.replace('_', '-')}-field {name}" for role in ("text", "text_pair", "label")
             if (name := getattr(fields, role)) is not None and name != getattr(default, role)]
    if given:
        warnings.warn(f"{spec}: {' '.join(given)} ignored; a built-in data set has its own text and label",
                      stacklevel=3)


def load_splits(spec: str, fields: Fields = Fields(), *, seed: int = 0, dev_fraction: float = 0.1,
                test_fraction: float = 0.1, folds: int = 0, fold: int = 0, copies: str = "folded") -> Splits:
    """Resolve ``spec`` and return checked splits. A missing dev or test split is its fraction of the
    train file (none for 0), cut stratified by label and seeded, so the same seed always gives the same
    split; every label keeps at least one example in train, and the copies of a text (``copies``, a rule of
    ``COPY_RULES``) go to one side. With ``folds``, the test split is instead fold ``fold`` of that many
    stratified folds of the file (``fold_out``)."""
    if spec.startswith("builtin:"):
        from ctxlearn.data.builtin import load_builtin

        found = load_builtin(spec.removeprefix("builtin:"))
        _unread_fields(spec, fields)
    else:
        found = _read_split_files(Path(spec), fields)
    return _complete(found, seed, dev_fraction, test_fraction, fields.label or "label", (folds, fold), copies)


def splits_of(options: Any, seed: int) -> Splits:
    """``load_splits`` for a config that holds the data options (``config.DataOptions``: data, fields,
    fractions), cut with ``seed``."""
    fields = Fields(options.text_field, options.label_field, options.text_pair_field)
    return load_splits(options.data, fields, **{**split_settings(vars(options)), "seed": seed})


def _read_split_files(path: Path, fields: Fields) -> dict[str, tuple[list[Example], str]]:
    """Each split's examples and source. Dev and test are read as train was, single texts or pairs: a test
    file of one `text` column beside a train file of premise and hypothesis scored a pair model on single
    texts without a word."""
    if path.is_dir():
        files = data_folder_files(path, READERS)
        train = _read_split(files["train"], fields)
        pairs = bool(train) and train[0].text_pair is not None
        source = split_source(files["train"])
        return {split: (train if split == "train" else _read_like_train(paths, fields, pairs, source, split),
                        split_source(paths)) for split, paths in files.items()}
    return {"train": (read_examples(path, fields), str(path))}


def _read_like_train(files: list[Path], fields: Fields, pairs: bool, train: str, split: str) -> list[Example]:
    """A dev or test split read as ``train``'s file was (``pairs``: text pairs). Fields it lacks are named as
    train's, and the fix is to its columns: a flag would rename the fields of every file. A file with no
    labels at all is most likely a benchmark's unlabelled test file (GLUE keeps its test labels private)."""
    try:
        return _read_split(files, fields.for_model(text_pairs=pairs))
    except DataError as err:
        if err.missing == ("label",) and "label" not in err.likely:  # no column holds classes either
            share = "--test-fraction" if split == "test" else "--dev-fraction"
            raise DataError(err.path, f"{err.problem}: this {split} file has no labels, as a benchmark's test file "
                            "often has none (GLUE keeps its test labels private)", line=err.line, field=err.field,
                            missing=err.missing, expected=f"labelled rows, as in {train}; or take the file out of the "
                            f"folder, and {split} is cut from train instead ({share}, 10% by default)") from None
        if not {"text", "text_pair"} & set(err.missing):
            raise
        kind = "text pairs" if pairs else "single texts"
        raise DataError(err.path, f"{err.problem}, as read in {train}, which holds {kind}", line=err.line,
                        field=err.field, missing=err.missing, expected=f"{kind} under the columns {train} has them "
                        "in: rename this file's columns to match (--text-field and --text-pair-field name the "
                        "columns of every file)") from None


def _read_split(files: list[Path], fields: Fields) -> list[Example]:
    return read_split(files, lambda path: read_examples(path, fields), lambda ex: ex.line,
                      lambda ex, offset: replace(ex, line=ex.line + offset))


def _complete(found: dict[str, tuple[list[Example], str]], seed: int, dev_fraction: float,
              test_fraction: float, field: str, folds: tuple[int, int], copies: str) -> Splits:
    """Splits from the files ``found``, checked; ``field`` is the label's, for errors; ``folds``: (number of
    folds, test fold), (0, 0) for none; ``copies``: the COPY_RULES rule of what a cut keeps together."""
    train, source = found["train"]
    sources = {split: src for split, (_, src) in found.items()}
    _check_classes(train, source, field)
    check_shares_leave_train(found, dev_fraction, test_fraction, folds[0])
    parts = {split: exs for split, (exs, _) in found.items()}
    if folds[0]:
        refuse_test_file(sources.get("test", ""), folds[0])
        parts["train"], parts["test"], sources["test"] = fold_out(
            parts["train"], folds, seed, source, copy_key(copies), lambda ex: ex.label, near=copies == "folded")
    for split, fraction in (("test", test_fraction), ("dev", dev_fraction)):
        if split not in parts:
            # counted on the whole file, not on what the test cut left, so "10% of FILE" is true of dev too;
            # ceil is how sklearn counts a float test_size, so test splits stay those of earlier versions
            n_cut = math.ceil(fraction * len(train))
            parts["train"], parts[split], how = _held_out(parts["train"], n_cut, seed, split, source, copies)
            sources[split] = cut_source(split, fraction, source, how)
    labels = label_order({ex.label for ex in parts["train"]})
    for split in ("dev", "test"):
        _check_known_labels(parts[split], set(labels), found.get(split, found["train"])[1], field)
    return Splits(parts["train"], parts["dev"], parts["test"], labels, sources, copies)


def check_shares_leave_train(given: Container[str], dev_fraction: float, test_fraction: float, folds: int) -> None:
    """A ConfigError when the shares cut from the training file (dev, and test or one fold of ``folds``, where no
    file of theirs is ``given``) add up to all of it: more examples would not help, smaller shares would."""
    shares = {"dev_fraction": 0.0 if "dev" in given else dev_fraction,
              "test_fraction": 1 / folds if folds else 0.0 if "test" in given else test_fraction}
    if sum(shares.values()) >= 1:
        test = f"one fold of {folds} (1/{folds})" if folds else f"test_fraction {test_fraction:g}"
        raise ConfigError(f"dev_fraction {dev_fraction:g} and {test} are both cut from the training file and add "
                          f"up to {sum(shares.values()):g}, leaving nothing to train on; give shares that add up to "
                          "under 1, e.g. 0.1 each, or dev and test files beside train", field="dev_fraction")


def cut_source(split: str, fraction: float, source: str, how: str) -> str:
    """What a split cut from train is, for the manifest: "10% of data.jsonl (stratified, seed 0)"."""
    if not fraction:
        return f"none (no {split} file and {split}_fraction 0)"
    return f"{100 * fraction:g}% of {source} ({how})"  # :g, not :.0%, which shows 0.125 as "12%"


def check_cut(cut: list, n_cut: int, split: str, source: str, unit: str, kind: str) -> None:
    """A DataError when fewer than ``n_cut`` could be cut because every ``kind`` keeps one in train."""
    if len(cut) < n_cut:
        raise DataError(source, f"too few {unit} to hold out {n_cut} as {split} and keep every {kind} in train",
                        expected=f"a {split} file beside train, a smaller {split}_fraction, or more {unit}")


def split_sizes(splits: Any) -> dict[str, int]:
    """How many examples (sentences, for tagging) each split of ``splits`` holds, for a run's manifest."""
    return {name: len(getattr(splits, name)) for name in ("train", "dev", "test")}


def require_split(splits: Any, split: str, why: str) -> None:
    """A ConfigError when ``split`` of ``splits`` (classification or tagging) is empty, which only
    happens with no such file and a fraction of 0, but ``why`` needs it."""
    if not getattr(splits, split):
        raise ConfigError(f"no {split} split ({splits.sources.get(split)}), but {why}; "
                          f"give a {split} file beside train or a {split}_fraction above 0")


def _check_classes(train: list[Example], source: str, field: str) -> None:
    counts = Counter(ex.label for ex in train)
    if len(counts) < 2:
        only = next(iter(counts))
        raise DataError(source, f"every example has the label {only!r}", field=field,
                        expected="at least two classes in the training data")
    bin_first = ("class names or ids shared by many examples: bin numeric scores into a few classes first (as "
                 "builtin:movie-sentiment does with its ratings), or name the class column with --label-field")
    if are_scores(list(counts)):
        shown = ", ".join(lab for lab, _ in counts.most_common(3))
        raise DataError(source, f"the labels are {len(counts):,} different numbers (e.g. {shown}): scores to "
                        "predict, not classes, and ctxlearn learns classes", field=field, expected=bin_first)
    once = [lab for lab, n in counts.items() if n == 1]
    if len(once) > max(MANY_SINGLE_LABELS, len(train) / 2):  # scores or ids, not classes
        raise DataError(source, f"{len(once)} of {len(train)} examples have a label no other example has (e.g. "
                        f"{', '.join(map(repr, once[:3]))}), and a class seen once cannot be learned", field=field,
                        expected=bin_first)


def _check_known_labels(examples: list[Example], known: set[str], source: str, field: str) -> None:
    for ex in examples:
        if ex.label not in known:
            raise DataError(source, f"label {ex.label!r} never occurs in train{case_twin(ex.label, known)}",
                            line=ex.line or None, field=field, expected=f"one of {sorted(known)}")


def _held_out(examples: list[Example], n_cut: int, seed: int, split: str, source: str,
              copies: str) -> tuple[list[Example], list[Example], str]:
    """(keep, cut, how): ``_cut`` for a dev or test split, with the copies of a text (and pair) on one side
    together (``distinct``; ``copies`` says what a copy is), so no held-out text is one that train holds too."""
    firsts, with_copies = distinct(examples, copy_key(copies))
    repeated = len(firsts) < len(examples)
    n_firsts = share(n_cut, len(firsts), len(examples))
    keep, cut, how = _cut(firsts, n_firsts, seed)
    check_cut(cut, n_firsts, split, source, "distinct texts" if repeated else "examples", "label")
    kept = f"; {_copies_note('text', copies == 'folded')}" if repeated and n_cut else ""
    return with_copies(keep), with_copies(cut), how + kept


def _copies_note(what: str, near: bool) -> str:
    """How a cut that kept the copies of a ``what`` together says so; ``near``: copies up to case and spacing."""
    return f"copies of a {what} kept together{', case and spacing aside' if near else ''}"


def refuse_test_file(test_source: str, folds: int) -> None:
    """A ConfigError where the data has a test file (``test_source``, "" for none): folds cut test from train."""
    if test_source:
        raise ConfigError(f"folds {folds} cuts the test split from train, but the data has a test file "
                          f"({test_source}); leave out --folds, or give train (and dev) without test")


def fold_out(items: list[T], folds: tuple[int, int], seed: int, source: str, key: Callable[[T], Any],
             label: Callable[[T], str] | None = None,
             kinds: Callable[[T], Iterable[str]] | None = None, near: bool = False) -> tuple[list[T], list[T], str]:
    """(keep, test, test's source): fold ``folds[1]`` of ``folds[0]`` folds of the distinct items (``key``:
    copies in one fold), shuffled by ``seed``: stratified by ``label``, or else dealt by each item's rarest of
    its ``kinds`` (one of the two is given; ``near``: ``key`` makes texts the same up to case and spacing
    copies, for the split's note). One seed's folds are disjoint
    and cover the file, so runs of every fold test each item once: on a small file, the score of all of it,
    not of a tenth. An item of a kind no other item has (its ``label``, or one of its ``kinds``: a sentence's
    entity types) stays in train, as the dev and test cuts keep it: the fold testing it would leave train without."""
    (n, fold), what = folds, "text" if label else "sentence"
    kinds = kinds or (lambda x: (label(x),))
    firsts, with_copies = distinct(items, key)
    copies = len(firsts) < len(items)
    unit = f"distinct {what}s" if copies else "examples" if label else "sentences"
    counts = Counter(k for x in firsts for k in set(kinds(x)))
    pool = [i for i, x in enumerate(firsts) if all(counts[k] > 1 for k in kinds(x))]
    most = max(Counter(label(firsts[i]) for i in pool).values(), default=0) if label else len(pool)
    if most < n:  # sklearn's bound: stratified folds need a class of as many members as folds
        problem = f"the largest class has {most} {unit}" if label else f"{most} {unit}"
        raise DataError(source, f"{problem}, too few for {n} folds", expected=f"--folds {most} or fewer, or more data")
    if label:
        tested = set(_fold_of(pool, [label(firsts[i]) for i in pool], folds, seed))
    else:  # a sentence goes with its rarest entity type, so the few sentences of a rare type go to other folds
        tested = set(_dealt(pool, [_rarest(kinds(firsts[i]), counts) for i in pool], folds, seed))
    alone, s = len(firsts) - len(pool), "s" * (len(firsts) - len(pool) > 1)
    how = [f"{'stratified' if label else 'spread by rarest entity type'}, seed {seed}"]
    how += [_copies_note(what, near)] if copies else []
    how += ([f"{alone} label{s} with one example kept in train" if label else
             f"{alone} sentence{s} with an entity type no other has kept in train"] if alone else [])
    keep = [x for i, x in enumerate(firsts) if i not in tested]
    test = [x for i, x in enumerate(firsts) if i in tested]
    return with_copies(keep), with_copies(test), f"fold {fold} of folds 0-{n - 1} of {source} ({'; '.join(how)})"


def _fold_of(pool: list[int], labels: list[str], folds: tuple[int, int], seed: int) -> list[int]:
    """The items of ``pool`` in fold ``folds[1]`` of ``folds[0]``: sklearn's stratified folds of ``labels``."""
    from sklearn.model_selection import StratifiedKFold

    n, fold = folds
    with warnings.catch_warnings():  # a class of fewer members than folds: sklearn warns, and spreads it as it can
        warnings.simplefilter("ignore", UserWarning)
        cut = StratifiedKFold(n, shuffle=True, random_state=seed).split(labels, labels)
        return [pool[i] for i in list(cut)[fold][1]]


def _rarest(kinds: Iterable[str], counts: Counter[str]) -> str:
    """The kind of ``kinds`` fewest items have ("" for none: a sentence without entities)."""
    return min(kinds, key=lambda kind: (counts[kind], kind), default="")


def _dealt(pool: list[int], groups: list[str], folds: tuple[int, int], seed: int) -> list[int]:
    """The items of ``pool`` in fold ``folds[1]`` of ``folds[0]``, dealt round the folds in turn, group by group
    in a seeded order: a group of m items lands in min(m, n) folds, and fold sizes differ by one at most.
    sklearn's StratifiedKFold deals so too, but refuses data where no group has n items, which tagging
    data of many rare entity types can be."""
    n, fold = folds
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda i: groups[i])  # stable: the shuffle orders each group
    return sorted(pool[i] for place, i in enumerate(order) if place % n == fold)


def distinct(items: Sequence[T], key: Callable[[T], Any]) -> tuple[list[T], Callable[[list[T]], list[T]]]:
    """The first item of each ``key`` (one text; an SMS spam file repeats a message up to 30 times), and a
    function from a part of those firsts to that part with every copy, each after its first: a split cut
    from the firsts holds all copies of a text or none. Without copies the part is returned as it is."""
    copies: dict[Any, list[T]] = {}
    for item in items:
        copies.setdefault(key(item), []).append(item)

    def with_copies(part: list[T]) -> list[T]:
        return [item for first in part for item in copies[key(first)]]

    return [group[0] for group in copies.values()], with_copies


def share(n_cut: int, n_firsts: int, n_items: int) -> int:
    """How many of ``n_firsts`` distinct texts to cut for about ``n_cut`` of ``n_items`` items (at least one)."""
    return max(1, round(n_cut * n_firsts / n_items)) if n_cut else 0


def _cut(examples: list[Example], n_cut: int, seed: int) -> tuple[list[Example], list[Example], str]:
    """(keep, cut, how): ``n_cut`` examples cut stratified by label where sklearn can, at random
    otherwise; either way every label keeps an example in ``keep`` (a label train lacks cannot be learnt)."""
    if not n_cut:  # a fraction of 0: sklearn rejects a test_size of 0
        return list(examples), [], "nothing cut"
    counts = Counter(ex.label for ex in examples)
    alone = [ex for ex in examples if counts[ex.label] == 1]  # stratifying needs two of a class: these stay
    stratified = _stratified([ex for ex in examples if counts[ex.label] > 1], n_cut, seed)
    if stratified is not None:
        note = f"; {len(alone)} label{'s' if len(alone) > 1 else ''} with one example kept in train" if alone else ""
        return stratified[0] + alone, stratified[1], f"stratified, seed {seed}{note}"
    keep, cut = seeded_cut(examples, n_cut, seed, lambda ex: (ex.label,))
    return keep, cut, f"random, seed {seed}; every label kept in train"


def _stratified(pool: list[Example], n_cut: int, seed: int) -> tuple[list[Example], list[Example]] | None:
    """sklearn's stratified cut, or None where it cannot make one that leaves every label in keep."""
    from sklearn.model_selection import train_test_split  # here: scikit-learn takes 1.3 s to import

    try:
        keep, cut = train_test_split(pool, test_size=n_cut, random_state=seed, stratify=[ex.label for ex in pool])
    except ValueError:  # too few examples for every class to have a place in both parts (small files)
        return None
    # with a large cut (over half) sklearn can take both examples of a class of two
    return (list(keep), list(cut)) if {ex.label for ex in keep} == {ex.label for ex in pool} else None


def seeded_cut(items: Sequence[T], n_cut: int, seed: int,
               kinds: Callable[[T], Iterable[str]]) -> tuple[list[T], list[T]]:
    """(keep, cut), both in file order: the first ``n_cut`` items of a seeded shuffle, passing over the
    last item of each kind (label, entity type) in that order, so every kind stays in ``keep``. Fewer
    than ``n_cut`` are cut only when too few items are left to pass over."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    last = {kind: i for i in order for kind in kinds(items[i])}
    # the last of each kind, not the first: a cut that already keeps every kind is the plain shuffled cut
    kept = set(last.values())
    cut = set([i for i in order if i not in kept][:n_cut])
    return [x for i, x in enumerate(items) if i not in cut], [x for i, x in enumerate(items) if i in cut]
