"""The units the data layer yields: one labelled text (or text pair), or one tagged sentence, with
where it came from."""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from ctxlearn.data.words import join_words

MANY_SCORES = 20  # distinct numeric labels, some not whole, above which a label column is refused as scores


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    text_pair: str | None = None
    line: int = 0  # 1-based line in the source file, for error messages
    others: tuple[tuple[str, Any], ...] = ()  # the row's other columns, read for predict (``Fields.others``)


# found without flags where there is no `text` field: a pair (NLI's, GLUE's sentence and question pairs;
# Hugging Face's run_glue.py finds sentence1/sentence2 in a user's file too), else GLUE's single `sentence`
PAIR_FIELDS = (("premise", "hypothesis"), ("sentence1", "sentence2"), ("question1", "question2"))
SINGLE_FIELD = "sentence"


def label_name(value: Any) -> str | None:
    """The class name a raw label stands for: text stripped, an integer (or a whole float, as JSON and
    pandas write them, numbers or text) as its digits, a boolean as JSON spells it ("true", "false"), a list
    of one label (doccano's classification export: ``"label": ["positive"]``) as that label; None when it
    names no class (missing, empty, a mapping, a list of none or several). Everything that names labels
    (data files, verbalizers) goes through this one rule."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):  # JSON true, YAML true or yes: str() would give "True"
        return "true" if value else "false"
    if value is None or isinstance(value, (list, dict)) or isinstance(value, float) and math.isnan(value):
        return None  # NaN: how pandas (and json.dumps of its rows) writes a missing value; it trained as class "nan"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if WHOLE_FLOAT.fullmatch(text):  # "3.0": pandas writes an integer column that had gaps so in a CSV
        text = str(int(text.split(".")[0]))
    return text or None


WHOLE_FLOAT = re.compile(r"[-+]?\d+\.0+")


def numbers(labels: list[str]) -> list[float] | None:
    """Each label (or text) as a number, or None when any is not one."""
    try:
        return [float(lab) for lab in labels]
    except ValueError:
        return None


def are_scores(labels: list[str]) -> bool:
    """Whether distinct ``labels`` are scores to predict rather than classes: over MANY_SCORES numbers, some
    not whole (human sentiment ratings; whole numbers, such as stars or years, stay classes)."""
    scores = numbers(labels)
    return scores is not None and len(scores) > MANY_SCORES and not all(v.is_integer() for v in scores)


def case_twin(name: str, known: Iterable[str]) -> str:
    """For an error on a label (or entity type) ``name`` not among ``known``: the words that name the one of
    ``known`` it differs from only in case (``Positive`` for ``positive``), or "" where none does."""
    twin = next((k for k in sorted(known) if k.casefold() == name.casefold()), None)
    return "" if twin is None else f" ({twin!r} is: they differ only in case)"


@dataclass(frozen=True)
class Fields:
    """Which column or key holds what. ``text_pair=None`` means single-text examples;
    ``label=None`` reads unlabelled input (for prediction); ``others`` keeps every other column of a row
    on its example (``Example.others``), which predict copies to its output (ids, gold labels); ``blank``
    reads a missing or empty text as "" rather than refusing it (a pretraining corpus skips such rows)."""

    text: str = "text"
    label: str | None = "label"
    text_pair: str | None = None
    others: bool = False
    blank: bool = False
    pairs: bool | None = None  # a run's (``for_model``): True finds a pair again, False never one; None either

    def resolve(self, available: list[str]) -> "Fields":
        """The fields of a file with the columns or keys ``available``. A default name matches a column
        that differs from it only in case (``Text``, ``Label``: a spreadsheet's headers) where only one
        does; the default text field, when the file has none, falls back to the first of ``PAIR_FIELDS``
        it holds, else (unless a pair is wanted) to ``SINGLE_FIELD``."""
        def find(name: str) -> str | None:
            same = [a for a in available if a.casefold() == name]
            return name if name in available else same[0] if len(same) == 1 else None

        fields = replace(self, label=find("label") or "label") if self.label == "label" else self
        if fields.text != "text":
            partner = dict(PAIR_FIELDS).get(fields.text)
            if fields.text_pair is None and fields.pairs is None and partner and find(partner):
                warnings.warn(f"--text-field {fields.text}: read alone, though {find(partner)!r}, its usual pair, is "
                              f"there too; --text-pair-field {find(partner)} reads them as pairs")
            return fields
        if find("text") and not fields.pairs:  # a pair model given a file of single texts must not read them alone
            return replace(fields, text=find("text"))
        found = ((find(a), find(b)) for a, b in PAIR_FIELDS if find(a) and find(b))
        pair = None if fields.pairs is False else next(found, None)
        if pair is None and fields.pairs:
            pair = PAIR_FIELDS[0]  # not there: the error names the first pair and the fields present
        if pair is not None:
            return replace(fields, text=pair[0], text_pair=fields.text_pair or pair[1])
        return replace(fields, text=find(SINGLE_FIELD) or "text")

    @property
    def reads_pairs(self) -> bool:
        """Whether examples are text pairs: a pair field is named, or one is to be found (``pairs``)."""
        return self.text_pair is not None or bool(self.pairs)

    def pair_names(self) -> str:
        """The pair fields this reads, in words, for errors."""
        if self.text_pair is not None:
            return f"the fields {self.text!r} and {self.text_pair!r}"
        found = ", ".join(f"{a}/{b}" for a, b in PAIR_FIELDS)
        return f"the fields {found} (or name them with --text-field and --text-pair-field)"

    def for_model(self, text_pairs: bool) -> "Fields":
        """The fields a run reads its inputs with: a model trained on pairs found without flags (its
        config names no pair field) finds a pair again; one trained on single texts finds none, where a
        file's pair columns were read as a pair it was never trained on."""
        if self.text_pair is not None:
            return self
        return replace(self, pairs=text_pairs)


@dataclass(frozen=True)
class TaggedSentence:
    """Tokens and their tags (empty for unlabelled input), with the source line of each token and,
    when the sentence came as raw text, that text and each token's character offsets."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    lines: tuple[int, ...]
    text: str | None = None
    offsets: tuple[tuple[int, int], ...] | None = None
    others: tuple[tuple[str, Any], ...] = ()  # an unlabelled JSON line's other keys, which predict copies out
    tags_field: str | None = field(default=None, compare=False)  # the JSON or Parquet field of its tags; None: CoNLL

    @property
    def line(self) -> int:
        return self.lines[0] if self.lines else 0

    def char_offsets(self) -> tuple[str, list[tuple[int, int]]]:
        """(text, offsets): the raw text when given, else the tokens joined by single spaces."""
        if self.text is not None and self.offsets is not None:
            return self.text, list(self.offsets)
        return join_words(self.tokens)
