"""The units the data layer yields: one labelled text (or text pair), or one tagged sentence, with
where it came from."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ctxlearn.data.words import join_words


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    text_pair: str | None = None
    line: int = 0  # 1-based line in the source file, for error messages
    others: tuple[tuple[str, Any], ...] = ()  # the row's other columns, read for predict (``Fields.others``)


NLI_FIELDS = ("premise", "hypothesis")  # a text pair found without flags, when there is no `text` field


def label_name(value: Any) -> str | None:
    """The class name a raw label stands for: text stripped, an integer (or a whole float, as JSON and
    pandas write them) as its digits, a boolean as JSON spells it ("true", "false"); None when it names
    no class (missing, empty, a list or a mapping). Everything that names labels (data files,
    verbalizers) goes through this one rule."""
    if isinstance(value, bool):  # JSON true, YAML true or yes: str() would give "True"
        return "true" if value else "false"
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


@dataclass(frozen=True)
class Fields:
    """Which column or key holds what. ``text_pair=None`` means single-text examples;
    ``label=None`` reads unlabelled input (for prediction); ``others`` keeps every other column of a row
    on its example (``Example.others``), which predict copies to its output (ids, gold labels)."""

    text: str = "text"
    label: str | None = "label"
    text_pair: str | None = None
    others: bool = False

    def resolve(self, available: list[str]) -> "Fields":
        """Fall back to premise/hypothesis when the default text field is absent (NLI files)."""
        if self.text == "text" and "text" not in available and set(NLI_FIELDS) <= set(available):
            return replace(self, text=NLI_FIELDS[0], text_pair=self.text_pair or NLI_FIELDS[1])
        return self

    def for_model(self, text_pairs: bool) -> "Fields":
        """The fields a run reads its inputs with: a model trained on pairs found as premise/hypothesis
        (its config names no pair field) reads them again."""
        return self.resolve(list(NLI_FIELDS)) if text_pairs and self.text_pair is None else self


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

    @property
    def line(self) -> int:
        return self.lines[0] if self.lines else 0

    def char_offsets(self) -> tuple[str, list[tuple[int, int]]]:
        """(text, offsets): the raw text when given, else the tokens joined by single spaces."""
        if self.text is not None and self.offsets is not None:
            return self.text, list(self.offsets)
        return join_words(self.tokens)
