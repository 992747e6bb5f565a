"""The command kept in a comparison's folder makes the same comparison again, and goes on with it from anywhere."""
from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctxlearn.cli import build_parser, compare_config, on_interrupt
from ctxlearn.compare.command import CELL_OF, COMMAND, command_line, continue_command, record_command
from ctxlearn.compare.run import CompareConfig, is_comparison
from ctxlearn.config import opt


def _parsed(argv: list[str]) -> CompareConfig:
    return compare_config(build_parser(argv).parse_args(argv))


@pytest.mark.parametrize("settings", [
    {},
    {"methods": "head,lora", "seeds": 2, "budget": "quick", "estimate": True, "icl_verbalizer": "0=no,1=yes",
     "rank_by": "macro_f1", "text_field": "body", "test_fraction": 0.2, "extra": ["--lr", "3e-3", "--bf16", "off"]},
])
def test_the_command_line_makes_the_same_comparison_again(settings: dict) -> None:
    cfg = CompareConfig(data="d.csv", out="runs/c m p", **settings)
    argv = command_line(cfg)
    assert _parsed(argv) == cfg
    assert argv[:5] == ["compare", "--data", "d.csv", "--out", "runs/c m p"]  # --data as given: it is in the cell keys
    if not settings:
        assert len(argv) == 5  # the defaults are left out


def test_a_flag_on_by_default_and_turned_off_is_given_as_its_no_flag() -> None:
    @dataclass
    class Config(CompareConfig):
        keep: bool = opt(True, "a flag on by default")

    assert command_line(Config(data="d.csv", out="o", keep=False))[5:] == ["--no-keep"]
    assert command_line(Config(data="d.csv", out="o", estimate=True))[5:] == ["--estimate"]


def test_a_stopped_cell_is_continued_by_its_comparisons_command_from_any_folder(tmp_path: Path, monkeypatch) -> None:
    """`ctxlearn runs` said "the same ctxlearn compare --out X": no command to paste."""
    given = tmp_path / "given here"
    given.mkdir()
    monkeypatch.chdir(given)
    cfg = CompareConfig(data="d.csv", out="cmp", methods="head,lora", extra=["--lr", "3e-3"])
    record_command(cfg)
    assert is_comparison(given / "cmp")  # a comparison stopped before its first cell is still one
    line = "ctxlearn compare --data d.csv --out cmp --methods head,lora -- --lr 3e-3"
    assert continue_command(given / "cmp" / "cells" / "lora-s0.partial") == line
    assert json.loads((given / "cmp" / COMMAND).read_text())["cwd"] == str(given)
    monkeypatch.chdir(tmp_path)  # elsewhere, relative paths in it need the folder it was given in
    assert continue_command(given / "cmp" / "cells" / "lora-s0.partial") == f"cd {shlex.quote(str(given))} && {line}"
    (given / "cmp" / "n100" / "cells").mkdir(parents=True)  # a learning curve's cell, a level further down
    assert continue_command(given / "cmp" / "n100" / "cells" / "head-s0.partial").endswith(line)
    assert continue_command(tmp_path / "other" / "cells" / "head-s0.partial") is None  # no command kept


def test_a_cell_stopped_by_a_signal_points_at_its_comparison_not_at_train_resume(monkeypatch) -> None:
    """Its log said `train --out cells/X --resume`, which finished the cell outside the comparison: the comparison
    then trained it again."""
    args = argparse.Namespace(command="train", out="cmp/cells/lora-s0")
    assert "train --out cmp/cells/lora-s0 --resume" in on_interrupt(args, step=5)
    monkeypatch.setenv(CELL_OF, "my cmp")
    hint = on_interrupt(args, step=5)
    assert hint == ("a checkpoint was saved at step 5; this run is a cell of the comparison in my cmp: rerun its "
                    "compare command to go on (`ctxlearn runs 'my cmp'` shows it)")
