"""The README's commands are ones ctxlearn takes: a flag renamed or dropped leaves no example that fails."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from ctxlearn.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands(text: str) -> list[list[str]]:
    """The argv of each ``ctxlearn`` command in the README's code blocks (``torchrun ... -m ctxlearn`` too),
    continued lines joined, comments and a leading ``$ `` dropped."""
    commands, inside, held = [], False, ""
    for line in text.splitlines():
        if line.startswith("```"):
            inside, held = not inside, ""
            continue
        line = f"{held} {line.strip()}".strip() if inside else ""
        if line.endswith("\\"):
            held = line[:-1].strip()
            continue
        held, words = "", shlex.split(re.split(r"\s#", line.removeprefix("$ "))[0])
        if "ctxlearn" in words and (words[0] == "ctxlearn" or "-m" in words):
            commands.append(words[words.index("ctxlearn") + 1:])
    return commands


def test_the_readme_shows_many_commands() -> None:
    commands = readme_commands(README.read_text())
    assert len(commands) >= 20 and {c[0] for c in commands} >= {"train", "eval", "predict", "icl", "compare", "serve"}


@pytest.mark.parametrize("argv", readme_commands(README.read_text()), ids=" ".join)
def test_each_readme_command_parses(argv: list[str]) -> None:
    assert build_parser(argv).parse_args(argv).command == argv[0]


def test_a_renamed_flag_in_a_readme_command_is_caught() -> None:
    [argv] = readme_commands("```bash\nctxlearn train --data d.csv \\\n  --lr-rate 3e-4   # typo\n```\n")
    assert argv == ["train", "--data", "d.csv", "--lr-rate", "3e-4"]
    with pytest.raises(SystemExit):
        build_parser(argv).parse_args(argv)
