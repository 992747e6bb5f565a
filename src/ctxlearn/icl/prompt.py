"""Prompt specs: a short declarative description of how examples become a prompt (as in
lm-evaluation-harness task YAMLs), with named presets and defaults per task kind.

A prompt with k demonstrations reads::

    {instruction}{demo_separator}                      (only when there is an instruction)
    {template(demo 1)}{target_delimiter}{words(label 1)}{demo_separator}
    ...
    {template(query)}                                  and each label's words are scored after it
"""
from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctxlearn.config import from_dict, key_lines, load_yaml_node
from ctxlearn.data import Example, label_name
from ctxlearn.errors import ConfigError
from ctxlearn.registry import Registry

FIELDS = ("text", "text_pair")


@dataclass(frozen=True)
class PromptSpec:
    template: str = field(default="Input: {text}\nLabel:",
                          metadata={"help": "one example as text, with {text} and, for pairs, {text_pair}"})
    verbalizer: dict[str, str] = field(default_factory=dict, metadata={
        "help": "label -> word(s) scored after the prompt; a label not listed uses its name"})
    instruction: str = field(default="", metadata={"help": "text put once before the demonstrations"})
    target_delimiter: str = field(default=" ", metadata={"help": "between an example's text and its label words"})
    demo_separator: str = field(default="\n\n", metadata={"help": "after the instruction and after each demonstration"})

    def __post_init__(self) -> None:
        names = {name for _, name, _, _ in string.Formatter().parse(self.template) if name is not None}
        unknown = sorted(names - set(FIELDS))
        if unknown or "text" not in names:
            raise ConfigError(f"prompt template {self.template!r}: " + (
                f"unknown field {{{unknown[0]}}}" if unknown else "has no {text} field")
                + "; use {text} and, for pairs, {text_pair} (write {{ and }} for literal braces)", field="template")

    @property
    def is_pair(self) -> bool:
        return "{text_pair}" in self.template

    def words(self, label: str) -> str:
        return self.verbalizer.get(label, label.replace("_", " "))

    def fill(self, ex: Example) -> str:
        return self.template.format(text=ex.text, text_pair=ex.text_pair or "")

    def continuation(self, label: str) -> str:
        """What is scored after the prompt for ``label``."""
        return self.target_delimiter + self.words(label)

    def demonstration(self, ex: Example) -> str:
        return self.fill(ex) + self.continuation(ex.label)

    def context(self, demos: list[Example], query: Example) -> str:
        """The full prompt for ``query`` after ``demos``, up to where the label words go."""
        head = self.instruction + self.demo_separator if self.instruction else ""
        return head + "".join(self.demonstration(d) + self.demo_separator for d in demos) + self.fill(query)

    def meaningless(self, labels: list[str]) -> str | None:
        """A warning when labels reach the LM as words without a letter (a data set's class ids, 0 and 1):
        it can only guess what they stand for, where words (negative, positive) say it."""
        bare = [lab for lab in labels if not any(c.isalpha() for c in self.words(lab))]
        if not bare:
            return None
        named = ",".join(f"{lab}=WORDS" for lab in bare[:3]) + (",..." if len(bare) > 3 else "")
        return (f"{len(bare)} of {len(labels)} labels reach the LM as words with no letter ({', '.join(bare[:5])}"
                f"{', ...' if len(bare) > 5 else ''}), which say nothing of what each class is: name them with "
                f"--verbalizer {named} (e.g. 0=negative,1=positive)")

    def check(self, labels: list[str], is_pair: bool, source: str = "prompt") -> None:
        """The verbalizer must name only known labels and give each label different words; the template
        must use {text_pair} exactly when the data are pairs."""
        extra = sorted(set(self.verbalizer) - set(labels))
        if extra:
            raise ConfigError(f"{source}: verbalizer names label {extra[0]!r}, which the data do not have; labels are {labels}")
        words = [self.words(lab) for lab in labels]
        if len(set(words)) < len(words) or not all(w.strip() for w in words):
            raise ConfigError(f"{source}: every label needs its own non-empty words; "
                              f"the verbalizer gives {dict(zip(labels, words))}")
        if is_pair != self.is_pair:
            need = "has pairs: add {text_pair} to" if is_pair else "has single texts: remove {text_pair} from"
            raise ConfigError(f"{source}: the data {need} the template {self.template!r} (or pick --prompt pair/single)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PROMPTS: Registry[PromptSpec] = Registry("prompt preset")
PROMPTS.register("single")(PromptSpec())
PROMPTS.register("pair")(PromptSpec(template="Premise: {text}\nHypothesis: {text_pair}\nLabel:"))
# The presets below follow "Calibrate Before Use" (Zhao et al. 2021, table 14); sst2 is also the
# prompt of ../shared/peers/icl_peer_lmeval.py.
PROMPTS.register("sst2")(PromptSpec(template="Review: {text}\nSentiment:",
                                    verbalizer={"negative": "Negative", "positive": "Positive"}))
PROMPTS.register("trec")(PromptSpec(
    instruction="Classify the questions based on whether their answer type is a Number, Location, Person, "
                "Description, Entity, or Abbreviation.",
    template="Question: {text}\nAnswer Type:",
    verbalizer={"NUM": "Number", "LOC": "Location", "HUM": "Person", "DESC": "Description", "ENTY": "Entity",
                "ABBR": "Abbreviation"}))
PROMPTS.register("agnews")(PromptSpec(
    instruction="Classify the news articles into the categories of World, Sports, Business, and Technology.",
    template="Article: {text}\nAnswer:",
    verbalizer={"World": "World", "Sports": "Sports", "Business": "Business", "Sci/Tech": "Technology"}))
PROMPTS.register("rte")(PromptSpec(template="{text}\nquestion: {text_pair} True or False?\nanswer:",
                                   verbalizer={"entailment": "True", "not_entailment": "False"}))
PROMPTS.register("cb")(PromptSpec(template="{text}\nquestion: {text_pair} true, false, or neither?\nanswer:",
                                  verbalizer={"entailment": "true", "contradiction": "false", "neutral": "neither"}))


def parse_verbalizer(text: str) -> dict[str, str]:
    """``negative=Negative,positive=Positive`` -> {"negative": "Negative", "positive": "Positive"}."""
    pairs = [p for p in text.split(",") if p.strip()]
    if not pairs or any("=" not in p for p in pairs):
        raise ConfigError(f"verbalizer {text!r}: expected label=words pairs separated by commas, "
                          "e.g. negative=Negative,positive=Positive")
    out: dict[str, str] = {}
    for label, words in (p.split("=", 1) for p in pairs):
        if label.strip() in out:  # a dict would keep the last words silently
            raise ConfigError(f"verbalizer {text!r}: names label {label.strip()!r} twice; keep one")
        out[label.strip()] = words.strip()
    return out


def normalise_verbalizer(raw: Any, source: str) -> dict[str, str]:
    """label -> words however given: labels named by the data's rule (YAML's ``0:`` is the data's "0"),
    words stripped as a flag's are (the space before them is the target delimiter's)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: verbalizer must map labels to words (e.g. {{negative: Negative}}), not {raw!r}")
    out: dict[str, str] = {}
    for key, words in raw.items():
        label = None if isinstance(key, bool) else label_name(key)  # YAML reads yes: as True; quoted, it names a label
        if label is None:
            raise ConfigError(f"{source}: verbalizer key {key!r} is not a label; write a class name or an integer "
                              "(quote yes, no, on, off, true and false, which YAML reads as booleans)")
        if isinstance(words, bool) or not isinstance(words, (str, int, float)):
            raise ConfigError(f"{source}: verbalizer words {words!r} for label {label!r} are not text; quote them "
                              "(YAML reads yes, no, on and off as booleans)")
        if label in out:
            raise ConfigError(f"{source}: verbalizer names label {label!r} twice; keep one")
        out[label] = str(words).strip()
    return out


def unescape(text: str) -> str:
    r"""Command lines cannot easily hold new lines: ``\n`` and ``\t`` in a flag mean them."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


def resolve_prompt(name: str, is_pair: bool, *, template: str | None = None, instruction: str | None = None,
                   verbalizer: str | dict[str, str] | None = None) -> PromptSpec:
    """A preset name (``auto`` picks ``pair`` or ``single`` from the data) or a YAML file of PromptSpec
    fields, then any overrides."""
    if name == "auto":
        spec = PROMPTS.get("pair" if is_pair else "single")
    elif name in PROMPTS:
        spec = PROMPTS.get(name)
    elif name.endswith((".yaml", ".yml")) or Path(name).is_file():
        values, node = load_yaml_node(name)
        spec = from_dict(PromptSpec, values, name, key_lines(node))
    else:
        raise ConfigError(f"unknown prompt {name!r}: use auto, a preset ({', '.join(PROMPTS.names())}) or a YAML file")
    changes: dict = {}
    if template is not None:
        changes["template"] = unescape(template)
    if instruction is not None:
        changes["instruction"] = unescape(instruction)
    if verbalizer is not None:
        changes["verbalizer"] = parse_verbalizer(verbalizer) if isinstance(verbalizer, str) else verbalizer
    changes["verbalizer"] = normalise_verbalizer(changes.get("verbalizer", spec.verbalizer),
                                                 name if verbalizer is None else "--verbalizer")
    return dataclasses.replace(spec, **changes)
