"""The wire format of ``POST /v1/predict``: what a request holds, what comes back, what an error says.

A request carries exactly one of ``texts`` (single-text classifiers), ``pairs`` (pair classifiers such
as NLI) or ``tokens`` (pre-split words, for tagging artifacts). Strings are data only: nothing in a
request is ever opened as a path.
"""
from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ctxlearn.data.words import unseen


def _utf8(text: str) -> str:
    # JSON may carry lone surrogates ("\ud800"); the tokenizer cannot, so they are a client error here.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text holds a lone UTF-16 surrogate (\\ud800-\\udfff); send valid Unicode") from None
    return text


def _words(text: str) -> str:
    # The tokenizer reads blanks and format characters (U+200B) as nothing, so the model would label an empty
    # input; predict refuses such a row.
    if unseen(text):
        raise ValueError("text is only blanks (spaces, tabs, line breaks) or invisible characters; send text "
                         "with words in it")
    return text


def _word(word: str) -> str:
    # A word of a tagging sentence may be invisible (U+200B, tagged as the words beside it), not blank.
    if not word.strip():
        raise ValueError("text is only blanks (spaces, tabs, line breaks); send a word")
    return word


Text = Annotated[str, StringConstraints(min_length=1), AfterValidator(_utf8), AfterValidator(_words)]
Word = Annotated[str, StringConstraints(min_length=1), AfterValidator(_utf8), AfterValidator(_word)]
INPUTS = ("texts", "pairs", "tokens")
T = TypeVar("T")
NonEmpty = Annotated[list[T], Field(min_length=1)]


class TextPair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(description="first text (the premise, for NLI)")
    text_pair: Text = Field(description="second text (the hypothesis, for NLI)")


def _one_of_three(schema: dict) -> None:
    """The schema states the real contract, so clients and fuzzers see it: exactly one property, and never
    null (None is only the Python default of the two left out)."""
    for prop in schema["properties"].values():
        variants = [v for v in prop.pop("anyOf", []) if v.get("type") != "null"]
        prop.update(variants[0] if variants else {})
        prop.pop("default", None)
    schema.update(minProperties=1, maxProperties=1, examples=[{"texts": ["a gripping, funny film"]}])


class PredictRequest(BaseModel):
    """Exactly one of ``texts``, ``pairs``, ``tokens``; each a non-empty list."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema, _: _one_of_three(schema))
    texts: NonEmpty[Text] | None = Field(None, description="texts to classify")
    pairs: NonEmpty[TextPair] | None = Field(None, description="text pairs to classify (pair models)")
    tokens: NonEmpty[NonEmpty[Word]] | None = Field(None, description="pre-split words of each sentence, for "
                                                                      "tagging artifacts")

    @model_validator(mode="after")
    def _one_input(self) -> "PredictRequest":
        given = [name for name in INPUTS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of texts, pairs, tokens (got {', '.join(given) or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return next(name for name in INPUTS if getattr(self, name) is not None)

    def items(self) -> list:
        """The inputs as the engine takes them: strings, (text, text_pair) tuples, or word lists."""
        if self.pairs is not None:
            return [(p.text, p.text_pair) for p in self.pairs]
        return list(self.texts if self.texts is not None else self.tokens)


class ClassPrediction(BaseModel):
    label: str = Field(description="the most probable class")
    probabilities: dict[str, float] = Field(description="every class's probability; they sum to 1")


class ClassifyResponse(BaseModel):
    model: str = Field(description="the artifact serving the request (its folder name)")
    predictions: list[ClassPrediction] = Field(description="one per input, in input order")


class Entity(BaseModel):
    type: str = Field(description="entity type (PER, LOC, ...)")
    text: str = Field(description="the entity's words as they appear in the sentence")
    start: int = Field(description="character offset of its first character in the text sent (`texts`), or in "
                                   "the words joined by single spaces (`tokens`)")
    end: int = Field(description="character offset one past its last character")
    tokens: list[int] = Field(description="word range: first, one past the last")


class TagPrediction(BaseModel):
    tokens: list[str] = Field(description="the words tagged: as sent in `tokens`, or a text of `texts` split into words")
    tags: list[str] = Field(description="one BIO tag per word")
    entities: list[Entity] = Field(description="the entity spans those tags make")


class TagResponse(BaseModel):
    model: str = Field(description="the artifact serving the request (its folder name)")
    predictions: list[TagPrediction] = Field(description="one per input sentence, in input order")


class ErrorBody(BaseModel):
    error: str = Field(description="kind: unauthorized, too_large, invalid, overloaded, not_found, ...")
    message: str = Field(description="what is wrong and what would be right")
