"""What to do with a file ctxlearn cannot read as it is: one in Windows-1252 rather than UTF-8, a .json
file that holds a whole table in one object, CoNLL lines under .txt. Each check runs only once the readers
have refused the file (or, for JSON, on its one object), and says how to convert it."""
from __future__ import annotations

import gzip
import json
import re
import shlex
from pathlib import Path

from ctxlearn.errors import DataError

LINE_BREAK = re.compile(r"\r\n|\r|\n")  # how the readers split lines (not str.splitlines: see numbered_lines)
GZIP = ".gz"  # a text file compressed with gzip (train.jsonl.gz, as data sets often ship) is read as its format


CONLL_TAG = re.compile(r"O|[BIESLU]-\S+")  # a CoNLL line's last column


def holds_conll(path: Path, head: int = 65536) -> bool:
    """Whether a file's first lines are CoNLL's: nine in ten a token and a BIO-style tag last, sentences
    apart (CoNLL-2003 ships as train.txt, which was refused as a type of no use); gzipped (.txt.gz) too."""
    try:
        with (gzip.open(path, "rb") if path.name.lower().endswith(GZIP) else path.open("rb")) as fh:
            lines = LINE_BREAK.split(fh.read(head).decode("utf-8", errors="replace"))[:200]
    except (OSError, EOFError):  # unreadable, or not gzip after all: the reader says so
        return False
    rows = [line.split() for line in lines if line.strip() and not line.startswith("-DOCSTART-")]
    tagged = sum(len(row) >= 2 and CONLL_TAG.fullmatch(row[-1]) is not None for row in rows)
    return len(rows) >= 3 and tagged >= 0.9 * len(rows) and any(not line.strip() for line in lines)


def windows_1252_hint(path: Path, data: bytes, at: int) -> str:
    """Where all of ``data`` decodes as Windows-1252 (as Excel on a Western Windows saves plain "CSV"): the
    line holding byte ``at`` as it reads so, for the user to judge, and the command that converts the file.
    Nearly any bytes decode so, Chinese or Russian ones as nonsense, which the line shown makes plain."""
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return ""
    start, end = data.rfind(b"\n", 0, at) + 1, data.find(b"\n", at)
    line = data[start:end if end >= 0 else len(data)].decode("cp1252").strip()
    if len(line) > HINT_CHARS:
        left = max(0, min(at - start - HINT_CHARS // 2, len(line) - HINT_CHARS))
        line = ("…" if left else "") + line[left:left + HINT_CHARS] + ("…" if left + HINT_CHARS < len(line) else "")
    return (f"; read as Windows-1252 (Excel's plain CSV on Windows), that line is {line!r}: if that reads right, "
            f"convert the file with: {_conversion(path)}")


def _conversion(path: Path) -> str:
    """The shell command that writes a UTF-8 copy of the Windows-1252 file ``path`` (gunzipped, if it is)."""
    gz = path.name.lower().endswith(GZIP)
    name = path.name[:-len(GZIP)] if gz else path.name
    fixed = path.with_name(name.replace(".", "-utf8.", 1) if "." in name else name + "-utf8")
    convert = "iconv -f CP1252 -t UTF-8"
    read = f"gunzip -c {shlex.quote(str(path))} | {convert}" if gz else f"{convert} {shlex.quote(str(path))}"
    return f"{read} > {shlex.quote(str(fixed))}"


HINT_CHARS = 80  # of the line a decoding error shows


def refuse_a_table_object(path: Path, text: str) -> None:
    """A DataError for a file that is one JSON object holding a whole table, as pandas' ``to_json()`` writes
    by default (a column per key, each mapping row ids to values) or with ``orient="split"``, or as dumps
    keep their records under ``"data"``: its records were read as one, whose fields were then not text."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:  # JSON Lines (more than one object), or malformed: the line reader says which
        return
    if not isinstance(whole, dict) or not whole:
        return
    jsonl = str(path.with_suffix(".jsonl"))
    save = f"re-save it as JSON Lines with df.to_json({jsonl!r}, orient=\"records\", lines=True)"
    if all(isinstance(v, dict) for v in whole.values()):
        raise DataError(path, "one JSON object of columns, each mapping row ids to values, as pandas' "
                        "DataFrame.to_json() writes by default", expected=f"one JSON object per row: {save}")
    for keys, orient in (({"columns", "data"}, "split"), ({"schema", "data"}, "table")):
        if keys <= set(whole) and isinstance(whole["data"], list):
            raise DataError(path, f"one JSON object of a schema and rows, as pandas' to_json(orient=\"{orient}\") "
                            "writes", expected=f"one JSON object per row: {save}")
    held = [k for k, v in whole.items() if k not in RECORD_LISTS and isinstance(v, list) and v
            and all(isinstance(item, dict) for item in v)]
    if len(held) == 1:
        key, n = held[0], len(whole[held[0]])
        jq = f"jq -c {shlex.quote(f'.[{json.dumps(key)}][]')} {shlex.quote(str(path))} > {shlex.quote(jsonl)}"
        raise DataError(path, f"one JSON object whose {key!r} holds the records ({n:,} object{'s' * (n != 1)})",
                        expected=f"JSON Lines, one object per line, or one JSON array of them: write them out "
                        f"with {jq}")


RECORD_LISTS = ("entities", "spans")  # lists of objects that a tagging record holds (its entity spans)
