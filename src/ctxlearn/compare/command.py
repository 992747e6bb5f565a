"""The command that goes on with a comparison, kept in its folder: ``ctxlearn runs`` shows it beside a stopped
cell, where it said "the same ctxlearn compare --out X", which cannot be pasted."""
from __future__ import annotations

import json
import os
import shlex
from dataclasses import fields
from pathlib import Path
from typing import Any

from ctxlearn.train.resume import write_json

COMMAND = "command.json"  # OUT/command.json: the compare flags, and the folder they were given in
CELL_OF = "CTXLEARN_COMPARISON"  # set for a cell's process: the comparison's folder, for the cell's stop hint


def command_line(cfg: Any) -> list[str]:
    """``compare`` and the flags that make the CompareConfig ``cfg`` again: those away from their defaults, as
    given (a cell's key holds --data as given: an absolute path in its place would run every cell again)."""
    args = ["compare", "--data", cfg.data, "--out", cfg.out]
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in ("data", "out", "extra") or "help" not in f.metadata or value == f.default:
            continue
        flag = "--" + f.name.replace("_", "-")
        args += ([flag] if value else [f"--no-{flag[2:]}"]) if isinstance(value, bool) else [flag, str(value)]
    return args + (["--", *cfg.extra] if cfg.extra else [])


def record_command(cfg: Any) -> None:
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    write_json(Path(cfg.out) / COMMAND, {"argv": command_line(cfg), "cwd": os.getcwd()})


def continue_command(cell: Path) -> str | None:
    """The command that goes on with the comparison a stopped cell (OUT/cells/NAME.partial, or a learning
    curve's OUT/nSIZE/cells/NAME.partial) belongs to, with a ``cd`` to where it was given when that is not
    here (relative paths in it are read from there); None where the comparison kept no command."""
    for folder in (cell.parent.parent, cell.parent.parent.parent):
        try:
            record = json.loads((folder / COMMAND).read_text())
        except (OSError, ValueError):
            continue
        line = "ctxlearn " + shlex.join(record["argv"])
        same = Path(record["cwd"]).resolve() == Path.cwd().resolve()
        return line if same else f"cd {shlex.quote(record['cwd'])} && {line}"
    return None
