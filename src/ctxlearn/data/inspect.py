"""``ctxlearn data inspect``: what is in a data set, and what might go wrong training on it."""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Callable

import numpy as np

from ctxlearn.config import IMBALANCE_RATIO
from ctxlearn.data.folders import shown_sources
from ctxlearn.data.splits import Splits, copy_key
from ctxlearn.data.tagged_splits import TaggedSplits
from ctxlearn.data.tags import entity_spans


def inspect_splits(splits: Splits, tokenizer: Any | None = None, max_length: int = 128) -> dict[str, Any]:
    report: dict[str, Any] = {"task": "classification", "labels": splits.labels, "pair": splits.is_pair,
                              "sources": splits.sources, "splits": {}}
    warnings: list[str] = []
    same, exact = copy_key(splits.copies), copy_key("exact")  # what the cuts kept together; the texts as written
    for name in ("train", "dev", "test"):
        exs = getattr(splits, name)
        counts = Counter(ex.label for ex in exs)
        info: dict[str, Any] = {"n": len(exs), "labels": {lab: counts.get(lab, 0) for lab in splits.labels}}
        dupes = info["duplicates"] = _duplicates(exs, same)
        if dupes:
            warnings.append(f"{name}: {count(dupes, 'duplicate text')}{_variants(dupes - _duplicates(exs, exact))}")
        if tokenizer is not None and exs:
            pairs = [ex.text_pair for ex in exs] if exs[0].text_pair is not None else None
            ids = tokenizer([ex.text for ex in exs], pairs)["input_ids"]
            info["tokens"] = _lengths(ids, max_length)
            if name == "train" and (unknown := unknown_tokens(name, ids, tokenizer, "example")) is not None:
                warnings.append(unknown)
            if info["tokens"]["over_max"]:
                over = count(info["tokens"]["over_max"], "example")
                warnings.append(f"{name}: {over} longer than max_length {max_length} will be truncated "
                                "(train --long-inputs windows reads them whole)")
        report["splits"][name] = info
    warnings += (label_warnings(splits.labels) + conflicting_labels(splits.train, same) + lone_classes(splits.train)
                 + _imbalance(report["splits"]["train"]["labels"])
                 + small_splits(splits) + missing_classes(splits) + _overlap(splits, same, "example", exact))
    report["warnings"] = warnings
    return report


def inspect_tagged(splits: TaggedSplits, tokenizer: Any | None = None, max_length: int = 128) -> dict[str, Any]:
    """The tagging counterpart: sentences, entities per type, sub-word tokens per sentence, warnings."""
    report: dict[str, Any] = {"task": "tagging", "labels": splits.types, "pair": False, "sources": splits.sources,
                              "scheme": splits.scheme, "splits": {}}
    warnings: list[str] = []
    for name in ("train", "dev", "test"):
        sentences = getattr(splits, name)
        counts = _entity_counts(sentences)
        info: dict[str, Any] = {"n": len(sentences), "labels": {t: counts.get(t, 0) for t in splits.types},
                                "duplicates": _duplicates(sentences, _sentence_key)}
        if info["duplicates"]:
            warnings.append(f"{name}: {count(info['duplicates'], 'duplicate sentence')}")
        if tokenizer is not None and sentences:
            ids = tokenizer([list(s.tokens) for s in sentences], is_split_into_words=True)["input_ids"]
            info["tokens"] = _lengths(ids, max_length)
            if name == "train" and (unknown := unknown_tokens(name, ids, tokenizer, "sentence")) is not None:
                warnings.append(unknown)
            if info["tokens"]["over_max"]:
                over = count(info["tokens"]["over_max"], "sentence")
                warnings.append(f"{name}: {over} longer than max_length {max_length} tokens are tagged in "
                                "overlapping windows")
        report["splits"][name] = info
    report["warnings"] = (warnings + case_variants(splits.types, "entity types", "types") + small_tagged(splits)
                          + missing_types(splits) + _overlap(splits, _sentence_key, "sentence")
                          + conflicting_tags(splits.train) + joined_sentences(splits))  # train warns of these too
    return report


def conflicting_tags(sentences: list[Any]) -> list[str]:
    """The tagging counterpart of ``conflicting_labels``: train holds a sentence tagged two ways (WNUT-17's
    "london fashion week", O once and a location once), which no model can get right both times."""
    seen: dict[Any, dict[tuple[str, ...], int]] = {}
    for s in sentences:
        seen.setdefault(_sentence_key(s), {}).setdefault(s.tags, s.line)
    mixed = [(words, lines) for words, lines in seen.items() if len(lines) > 1]
    if not mixed:
        return []
    words, lines = mixed[0]
    text = " ".join(words)
    shown = text if len(text) <= 60 else text[:57] + "..."
    return [f"train: {count(len(mixed), 'sentence')} {'is' if len(mixed) == 1 else 'are'} tagged more than one way "
            f"(e.g. {shown!r}, lines {', '.join(map(str, lines.values()))}); a model tags a sentence one way, so it "
            "cannot get every copy right: keep one tagging per sentence"]


JOINED_WORDS = 250  # words in a sentence beyond which inspect asks whether blank lines are missing


def joined_sentences(splits: Any) -> list[str]:
    """A warning for a split whose longest sentence runs past ``JOINED_WORDS`` words: in a CoNLL file a sentence
    ends at a blank line, so a file without them was read, and trained on, as one sentence of all its tokens."""
    out = []
    for name in ("train", "dev", "test"):
        sentences = getattr(splits, name)
        longest = max(sentences, key=lambda s: len(s.tokens), default=None)
        if longest is not None and len(longest.tokens) > JOINED_WORDS:
            out.append(f"{name}: a sentence of {len(longest.tokens):,} words (from line {longest.line}; {name} holds "
                       f"{count(len(sentences), 'sentence')}); sentences end at a blank line, and a file without "
                       "them reads as one sentence: check that blank lines separate them")
    return out


def _lengths(ids: list[list[int]], max_length: int) -> dict[str, Any]:
    """Percentiles of the token counts, and how many exceed ``max_length``."""
    n = np.array([len(x) for x in ids])
    out = {f"p{q}": int(np.percentile(n, q)) for q in (50, 90, 95, 99)}
    return {**out, "mean": round(float(n.mean()), 1), "max": int(n.max()), "over_max": int((n > max_length).sum())}


UNKNOWN_SHARE = 0.01  # share of a split's tokens read as the tokenizer's unknown token, above which inspect warns


def unknown_tokens(name: str, ids: list[list[int]], tokenizer: Any, unit: str = "input") -> str | None:
    """A warning when over ``UNKNOWN_SHARE`` of the tokens of split ``name`` (``ids``, one list per
    ``unit``) are the tokenizer's unknown token: text the model cannot read, such as Chinese or emoji to an
    English WordPiece vocabulary, where each character becomes the same [UNK]."""
    unk = getattr(tokenizer, "unk_token_id", None)
    total = sum(len(x) for x in ids)
    if unk is None or not total:
        return None
    unknown = [list(x).count(unk) for x in ids]
    share = sum(unknown) / total
    if share <= UNKNOWN_SHARE:
        return None
    return (f"{name}: {share:.1%} of the tokens are unknown to the model's tokenizer ({sum(unknown):,} "
            f"{tokenizer.unk_token}, in {count(sum(n > 0 for n in unknown), unit)}), so the model cannot tell "
            "those characters apart; --model can name one whose vocabulary covers this text (a multilingual "
            "one, say)")


CUT_SHARE = 0.05  # share of training texts cut at max_length, above which train warns


def cut_short(name: str, lengths: list[int], max_length: int) -> str | None:
    """A warning when over ``CUT_SHARE`` of split ``name``'s encoded texts (``lengths``, in tokens) fill
    ``max_length``: each was cut to its start, and what it says after (a review's verdict, often) is lost."""
    cut = sum(n >= max_length for n in lengths)
    if not lengths or cut <= CUT_SHARE * len(lengths):
        return None
    return (f"{name}: {cut:,} of {len(lengths):,} texts ({cut / len(lengths):.0%}) fill max_length {max_length} "
            "tokens and are cut to their start; a larger --max-length reads more of each (at more cost per step; "
            "`ctxlearn data inspect` shows the token percentiles), --long-inputs windows reads them whole")


def imbalanced(counts: list[int]) -> bool:
    """Whether the largest class has over IMBALANCE_RATIO times the rows of the smallest (or one has none)."""
    lo, hi = min(counts), max(counts)
    return lo == 0 or hi / lo > IMBALANCE_RATIO


_JOINERS = re.compile(r"\s*[,;|+]\s*")


MISSING_WORDS = {"na", "n/a", "#n/a", "nan", "null", "none", "nil"}  # missing values as tools write them, casefolded


def label_warnings(labels: list[str]) -> list[str]:
    """Labels that look like slips in writing them: classes that differ only in case (``neg`` and
    ``NEG``), and labels that join other classes (``pos,neg``: multi-label data, which trains a class per
    combination)."""
    out = case_variants(labels, "labels", "classes") + number_variants(labels) + boolean_variants(labels)
    missing = [label for label in dict.fromkeys(labels) if label.casefold() in MISSING_WORDS]
    if missing:  # R's write.csv writes NA, pandas NaN: each trained as a class of its own
        out.append(f"label{'s' if len(missing) > 1 else ''} {_names(missing)}: how R, pandas or a spreadsheet writes a "
                   "missing value, here trained as a class; give those rows their labels, or leave them out")
    known = set(labels)
    for label in labels:
        parts = [p for p in _JOINERS.split(label) if p]
        if len(parts) > 1 and known.issuperset(parts):
            out.append(f"label {label!r} joins the classes {_names(parts)}: ctxlearn predicts one class per text, "
                       "so each combination trains as a class of its own")
    return out


def conflicting_labels(examples: list[Any], key: Callable[[Any], Any] | None = None) -> list[str]:
    """A warning when train holds a text (or pair) under more than one label: annotators who disagreed,
    or a multi-label text written once per label. A model predicts one class per text, so it cannot get
    every copy right; the copies stay together on one side of a split (``splits.distinct``). ``key`` says
    which texts are one: as the cuts keep copies together (``splits.copy_key``), or as written (None)."""
    seen: dict[Any, dict[str, Any]] = {}
    for ex in examples:
        seen.setdefault((key or _example_key)(ex), {}).setdefault(ex.label, ex)
    mixed = [by_label for by_label in seen.values() if len(by_label) > 1]
    if not mixed:
        return []
    first = mixed[0]
    text = next(iter(first.values())).text
    shown = text if len(text) <= 60 else text[:57] + "..."
    where = ", ".join(f"{label} (line {ex.line})" for label, ex in first.items())
    written = ", written in other case or spacing" if len({_example_key(ex) for ex in first.values()}) > 1 else ""
    return [f"train: {count(len(mixed), 'text')} {'has' if len(mixed) == 1 else 'have'} more than one label (e.g. "
            f"{shown!r}: {where}{written}); ctxlearn predicts one class per text, so it cannot get every copy right: "
            "keep one label per text"]


def case_variants(names: list[str], what: str, kinds: str) -> list[str]:
    """A warning for each group of ``names`` (labels, entity types) that differ only in case, each of
    which trains as one of ``kinds``."""
    by_fold: dict[str, list[str]] = {}
    for name in names:
        by_fold.setdefault(name.casefold(), []).append(name)
    return [f"{what} {_names(same)} differ only in case and train as {len(same)} {kinds}; if they are one, "
            "write it one way" for same in by_fold.values() if len(same) > 1]


def number_variants(labels: list[str]) -> list[str]:
    """A warning for each group of ``labels`` that are one number written in several ways (``1``, ``01``,
    ``+1``; ``0`` and ``-0``): each trains as a class of its own, and a 2-class task became 5. ``1.0`` is read
    as ``1`` already (``example.label_name``)."""
    by_value: dict[float, list[str]] = {}
    for label in labels:
        try:
            value = float(label)
        except ValueError:
            continue
        if math.isfinite(value):
            by_value.setdefault(value + 0.0, []).append(label)  # + 0.0: -0.0 is 0.0's key
    return [f"labels {_names(same)} are one number written {len(same)} ways and train as {len(same)} classes; if "
            "they are one class, write it one way" for same in by_value.values() if len(same) > 1]


BOOLEANS = {"false": 0.0, "true": 1.0}  # JSON's false and true, as labels (casefolded)


def boolean_variants(labels: list[str]) -> list[str]:
    """A warning where ``false``/``true`` sit beside the numbers ``0``/``1`` among the labels: one binary label
    written as JSON booleans in some rows and numbers in others trains as 4 classes."""
    numbers = {}
    for label in labels:
        try:
            numbers.setdefault(float(label) + 0.0, label)
        except ValueError:
            continue
    pairs = [(label, numbers[BOOLEANS[label.casefold()]]) for label in labels
             if label.casefold() in BOOLEANS and BOOLEANS[label.casefold()] in numbers]
    return [f"labels {_names(list(pair))} may be one class written two ways (a JSON boolean and a number) and train as "
            "2 classes; if they are one, write it one way" for pair in pairs]


def _names(labels: list[str], cap: int = 0) -> str:
    """``'a', 'b' and 'c'``; with ``cap``, the first ``cap`` and how many more."""
    quoted = [repr(lab) for lab in labels]
    if cap and len(quoted) > cap:
        return ", ".join(quoted[:cap]) + f" and {len(quoted) - cap} more"
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


LONE_AMONG = 10  # training examples of the largest class from which a class of one looks like a slip
LONE_SHOWN = 5  # lone classes named in the warning


def _lone(counts: dict[str, int]) -> set[str]:
    """Classes of one training example where the largest has ``LONE_AMONG`` or more."""
    return {label for label, n in counts.items() if n == 1} if max(counts.values(), default=0) >= LONE_AMONG else set()


def lone_classes(examples: list[Any]) -> list[str]:
    """A warning naming the classes of one training example among large ones (``2 stars`` among 107 rows of
    ``2``): a slip in writing a label, or a stray row; no model learns a class from one example."""
    lone = _lone(Counter(ex.label for ex in examples))
    rows = [ex for ex in examples if ex.label in lone]
    if not rows:
        return []
    shown = ", ".join(f"{ex.label!r} (line {ex.line})" for ex in rows[:LONE_SHOWN])
    more = f" and {len(rows) - LONE_SHOWN} more" if len(rows) > LONE_SHOWN else ""
    return [f"train: {count(len(rows), 'class', 'classes')} with a single example: {shown}{more}; one example cannot "
            "teach a class: if it is a slip for another class, correct it, else remove the row"]


def _imbalance(counts: dict[str, int]) -> list[str]:
    """Imbalance among the classes, lone ones (``lone_classes`` names those) aside."""
    lone = _lone(counts)
    counts = {label: n for label, n in counts.items() if label not in lone}
    if not counts or not imbalanced(list(counts.values())):
        return []
    return [f"train: classes are imbalanced ({max(counts.values())} vs {min(counts.values())} examples); macro-F1 is "
            "the fairer score, and --class-weights balanced makes the rare classes weigh as much as the common ones "
            "in training"]


SMALL_SPLIT = 100  # dev or test examples below which one of them moves accuracy by more than a point
_ON_SO_FEW = {"dev": "dev picks the checkpoint (or the head's C), and on so few the pick is largely chance",
              "test": "scores on so few differ by chance by more than most methods differ"}


def small_splits(splits: Splits) -> list[str]:
    """Dev and test splits too small to score finely: one example is over a point of accuracy."""
    return [msg for name in ("dev", "test") if (msg := small_split(name, len(getattr(splits, name)))) is not None]


def missing_classes(splits: Splits) -> list[str]:
    """Dev and test splits that hold no example of some classes train has, though they are large enough to
    hold one of each (a test file of positives alone): their scores say nothing of those classes, whatever
    the macro-F1 reads. Classes of one training example are left aside: a cut keeps that one in train, and
    ``lone_classes`` names them."""
    return _missing(splits, splits.labels, lambda examples: Counter(ex.label for ex in examples), "example of",
                    "classes")


def missing_types(splits: TaggedSplits) -> list[str]:
    """The tagging counterpart of ``missing_classes``: entity types train has that dev or test holds no
    entity of, though they hold as many entities as there are types."""
    return _missing(splits, splits.types, _entity_counts, "entity of type", "types")


def _entity_counts(sentences: list[Any]) -> Counter:
    return Counter(kind for s in sentences for kind, _, _ in entity_spans(s.tags))


def _missing(splits: Any, kinds: list[str], counted: Callable[[list], Counter], what: str, plural: str) -> list[str]:
    """A warning for dev and test each where some of ``kinds`` that train holds twice or more are absent,
    though the split holds as many items (``counted``: examples by class, entities by type) as there are kinds."""
    trained, out = counted(splits.train), []
    for name in ("dev", "test"):
        held = counted(getattr(splits, name))
        missing = [kind for kind in kinds if trained[kind] > 1 and not held[kind]]
        if missing and sum(held.values()) >= len(kinds):
            out.append(f"{name}: holds no {what} {_names(missing, LONE_SHOWN)} ({len(missing)} of the {len(kinds)} "
                       f"{plural}): its scores say nothing of them")
    return out


def small_tagged(splits: TaggedSplits) -> list[str]:
    """The tagging counterpart of ``small_splits``: entity F1 counts gold entities, not sentences."""
    found = ((name, sum(_entity_counts(getattr(splits, name)).values())) for name in ("dev", "test"))
    return [msg for name, n in found if (msg := small_split(name, n, entities=True)) is not None]


def small_split(name: str, n: int, entities: bool = False) -> str | None:
    """What scores on ``n`` examples (or gold entities) of split ``name`` are worth, where that is under
    a point each."""
    if not 0 < n < SMALL_SPLIT:
        return None
    if entities:
        return (f"{name}: {count(n, 'gold entity', 'gold entities')} (one is {100 / n:.1f} points of recall); "
                f"{_ON_SO_FEW[name]}: {SMALL_SPLIT} or more score finer")
    return (f"{name}: {count(n, 'example')} (one is {100 / n:.1f} points of accuracy); {_ON_SO_FEW[name]}: "
            f"{SMALL_SPLIT} or more score finer (report.md gives accuracy's 95% interval)")


def count(n: int, unit: str, units: str | None = None) -> str:
    """``n`` of ``unit``, plural (``units``, or ``unit`` + s) unless one: "1 example", "3 examples"."""
    return f"{n} {unit if n == 1 else units or unit + 's'}"


def _example_key(ex: Any) -> Any:
    return ex.text, ex.text_pair


def _sentence_key(sentence: Any) -> Any:
    return sentence.tokens


def _duplicates(items: list[Any], key: Callable[[Any], Any]) -> int:
    return len(items) - len({key(x) for x in items})


def _overlap(splits: Any, key: Callable[[Any], Any], unit: str,
             exact: Callable[[Any], Any] | None = None) -> list[str]:
    """Dev and test items that train holds too (``key`` says when two are the same; ``exact``, where ``key``
    allows variants, when two are written the same)."""
    train = {key(x) for x in splits.train}
    written = {exact(x) for x in splits.train} if exact else train
    out = []
    for name in ("dev", "test"):
        shared = sum(key(x) in train for x in getattr(splits, name))
        if shared:
            verb = "appears" if shared == 1 else "appear"
            as_written = sum(exact(x) in written for x in getattr(splits, name)) if exact else shared
            variants = _variants(shared - as_written)
            out.append(f"{name}: {count(shared, unit)} also {verb} in train{variants} (scores will be optimistic)")
    return out


def _variants(n: int) -> str:
    """What a count of copies adds when ``n`` of them differ from their twin only in case or spacing."""
    return f", {n} differing only in case or spacing" if n else ""


SHOWN_CLASSES = 20  # classes a split's line lists; with more, the most common, and how many are left out


def _capped(items: list[str], more: str = "") -> str:
    """The first ``SHOWN_CLASSES`` of ``items``, comma separated, then how many are left out (``more`` after)."""
    shown = ", ".join(items[:SHOWN_CLASSES])
    return shown if len(items) <= SHOWN_CLASSES else f"{shown}, and {len(items) - SHOWN_CLASSES:,} more{more}"


def _distribution(counts: dict[str, int]) -> str:
    """``neg 40, pos 60``: each class's count in label order, or with many classes the most common first."""
    if len(counts) <= SHOWN_CLASSES:
        return _capped([f"{lab} {c}" for lab, c in counts.items()])
    common = sorted(counts.items(), key=lambda kv: -kv[1])
    rest = sum(c for _, c in common[SHOWN_CLASSES:])
    return _capped([f"{lab} {c}" for lab, c in common], f" classes ({rest:,} examples)")


def format_report(report: dict[str, Any]) -> str:
    tagged, sources = report["task"] == "tagging", shown_sources(report["sources"])
    unit = "sentences" if tagged else "examples"
    lines = [f"{'entity types' if tagged else 'labels'}: {_capped(report['labels'])}"
             + ("  (text pairs)" if report["pair"] else "")
             + (f"  (tags read as {report['scheme']})" if tagged else "")]
    for name, info in report["splits"].items():
        dist = _distribution(info["labels"])
        lines.append(f"{name:5s} {info['n']:7d} {unit}  [{sources.get(name, '')}]")
        lines.append(f"      {'entities' if tagged else 'labels'}: {dist}")
        if "tokens" in info:
            t = info["tokens"]
            lines.append(f"      tokens: mean {t['mean']}, p50 {t['p50']}, p90 {t['p90']}, p99 {t['p99']}, max {t['max']}")
    lines += [f"warning: {w}" for w in report["warnings"]] or ["no warnings"]
    return "\n".join(lines)
