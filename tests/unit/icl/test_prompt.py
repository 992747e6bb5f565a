"""Prompt specs: the exact prompt text, presets, overrides and checks with useful errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ctxlearn.data import Example
from ctxlearn.errors import ConfigError
from ctxlearn.icl.prompt import PROMPTS, PromptSpec, parse_verbalizer, resolve_prompt


def test_context_reads_like_the_lm_eval_prompt() -> None:
    spec = PROMPTS.get("sst2")
    demos = [Example("a fine film", "positive"), Example("dull", "negative")]
    assert spec.context(demos, Example("so good", "positive")) == (
        "Review: a fine film\nSentiment: Positive\n\nReview: dull\nSentiment: Negative\n\nReview: so good\nSentiment:")
    assert spec.continuation("negative") == " Negative"


def test_instruction_and_pairs() -> None:
    spec = PromptSpec(template="{text} / {text_pair} ->", instruction="Decide.", demo_separator="\n")
    assert spec.is_pair
    demo = Example("p", "yes_no", text_pair="h")
    assert spec.context([demo], Example("P", "x", text_pair="H")) == "Decide.\np / h -> yes no\nP / H ->"


def test_class_ids_as_label_words_are_warned_of_until_a_verbalizer_names_them() -> None:
    spec = resolve_prompt("single", False)
    assert spec.meaningless(["0", "1"]) == (
        "2 of 2 labels reach the LM as words with no letter (0, 1), which say nothing of what each class is: name "
        "them with --verbalizer 0=WORDS,1=WORDS (e.g. 0=negative,1=positive)")
    named = resolve_prompt("single", False, verbalizer={"0": "negative", "1": "positive"})
    assert named.meaningless(["0", "1"]) is None
    assert spec.meaningless(["ham", "spam"]) is None
    assert spec.meaningless([str(i) for i in range(7)]).startswith("7 of 7 labels reach the LM as words with no "
                                                                   "letter (0, 1, 2, 3, 4, ...)")


@pytest.mark.parametrize("template, message", [
    ("Review: {txt}", "unknown field {txt}"),
    ("Review: nothing", "has no {text} field"),
])
def test_bad_templates_name_the_problem(template: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PromptSpec(template=template)


@pytest.mark.parametrize("spec, is_pair, message", [
    (PromptSpec(verbalizer={"postive": "Good"}), False, "label 'postive'"),
    (PromptSpec(verbalizer={"negative": "Same", "positive": "Same"}), False, "its own non-empty words"),
    (PromptSpec(), True, "add {text_pair}"),
    (PROMPTS.get("pair"), False, "remove {text_pair}"),
])
def test_check_against_the_data(spec: PromptSpec, is_pair: bool, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        spec.check(["negative", "positive"], is_pair)


def test_resolve_presets_files_and_overrides(tmp_path: Path) -> None:
    assert resolve_prompt("auto", False) == PROMPTS.get("single")
    assert resolve_prompt("auto", True) == PROMPTS.get("pair")
    spec = resolve_prompt("sst2", False, template=r"Text: {text}\nMood:", verbalizer="negative=bad,positive=good")
    assert spec.template == "Text: {text}\nMood:" and spec.words("positive") == "good"
    assert spec.instruction == PROMPTS.get("sst2").instruction
    path = tmp_path / "prompt.yaml"
    path.write_text(yaml.safe_dump({"template": "Q: {text}\nA:", "verbalizer": {"positive": "yes"}, "target_delimiter": "  "}))
    spec = resolve_prompt(str(path), False)
    assert spec.continuation("positive") == "  yes" and spec.continuation("negative") == "  negative"
    with pytest.raises(ConfigError, match="unknown prompt 'sst3'"):
        resolve_prompt("sst3", False)
    path.write_text(yaml.safe_dump({"templat": "x"}))
    with pytest.raises(ConfigError, match="unknown field 'templat'"):
        resolve_prompt(str(path), False)


def test_parse_verbalizer() -> None:
    assert parse_verbalizer("a=b c, d = e") == {"a": "b c", "d": "e"}
    with pytest.raises(ConfigError, match="label=words"):
        parse_verbalizer("negative:bad")
    with pytest.raises(ConfigError, match="'0=bad,1=great,0=good': names label '0' twice; keep one"):
        parse_verbalizer("0=bad,1=great,0=good")  # the flag kept 0=good, silently, where a recipe is refused


def test_yaml_verbalizer_keys_follow_the_datas_label_rule_and_words_are_stripped(tmp_path: Path) -> None:
    path = tmp_path / "prompt.yaml"
    path.write_text("template: 'Review: {text}'\nverbalizer: {0: ' Negative', 1.0: 'Positive '}\n")
    spec = resolve_prompt(str(path), False)
    assert spec.verbalizer == {"0": "Negative", "1": "Positive"}  # as the data read labels 0 and 1.0
    spec.check(["0", "1"], False, str(path))
    assert spec.continuation("0") == " Negative"  # one space, the target delimiter's
    assert resolve_prompt("single", False, verbalizer={1: " yes"}).verbalizer == {"1": "yes"}


@pytest.mark.parametrize("verbalizer, message", [
    ("{true: Positive}", "key True is not a label"),
    ("{positive: yes}", "words True for label 'positive' are not text"),
    ("{1: one, '1': One}", "names label '1' twice"),
    ("[Negative, Positive]", "must be a mapping of text to text"),  # refused by type, at its line
])
def test_bad_yaml_verbalizers_name_the_file_and_the_fix(tmp_path: Path, verbalizer: str, message: str) -> None:
    path = tmp_path / "prompt.yaml"
    path.write_text(f"verbalizer: {verbalizer}\n")
    with pytest.raises(ConfigError, match=f"{path.name}(:1)?: verbalizer.*{message}"):
        resolve_prompt(str(path), False)
