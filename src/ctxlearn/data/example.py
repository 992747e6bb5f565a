"""The unit the data layer yields: one labelled text (or text pair) with where it came from."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    text_pair: str | None = None
    line: int = 0  # 1-based line in the source file, for error messages


@dataclass(frozen=True)
class Fields:
    """Which column or key holds what. ``text_pair=None`` means single-text examples;
    ``label=None`` reads unlabelled input (for prediction)."""

    text: str = "text"
    label: str | None = "label"
    text_pair: str | None = None

    def resolve(self, available: list[str]) -> "Fields":
        """Fall back to premise/hypothesis when the default text field is absent (NLI files)."""
        if self.text == "text" and "text" not in available and {"premise", "hypothesis"} <= set(available):
            return Fields(text="premise", label=self.label, text_pair=self.text_pair or "hypothesis")
        return self
