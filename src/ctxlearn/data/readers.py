"""Readers for CSV, TSV, JSON Lines and Parquet files (text files gzipped too). Every problem is reported
with file, line and field."""
from __future__ import annotations

import codecs
import csv
import datetime
import gzip
import io
import json
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Container, Iterator

from ctxlearn.data.example import Example, Fields, label_name
from ctxlearn.data.fixes import GZIP, LINE_BREAK, holds_conll, refuse_a_table_object, windows_1252_hint
from ctxlearn.data.guess import SAMPLE, field_flags, likely_fields, score_columns
from ctxlearn.data.parquet import class_names, named_class, parquet_table
from ctxlearn.data.words import unseen, unseen_problem
from ctxlearn.errors import DataError, EmptyText
from ctxlearn.registry import Registry

Reader = Callable[[Path, Fields], list[Example]]
READERS: Registry[Reader] = Registry("file format")
_SPREADSHEETS = {"xlsx", "xls", "xlsm", "ods", "numbers"}
DATASETS_FILES = {"dataset_info.json", "state.json", "dataset_dict.json"}  # save_to_disk's own, not data
# Python's csv refuses a field over 128 KiB as "malformed"; a document (a filing, a book chapter) is longer.
# The limit is a C long, 32 bits on Windows.
csv.field_size_limit(2**31 - 1)


def file_type(path: Path) -> str:
    """The format a file's name says, lower case without the dot: "jsonl" for train.jsonl and
    train.jsonl.gz alike."""
    name = path.name.lower()
    return Path(name.removesuffix(GZIP)).suffix.lstrip(".")


def data_type(path: Path) -> str:
    """The format a file holds: its ``file_type``, except "conll" for a .txt of CoNLL lines (CoNLL-2003
    ships as train.txt, valid.txt and test.txt)."""
    kind = file_type(path)
    return "conll" if kind == "txt" and path.is_file() and holds_conll(path) else kind


def file_stem(path: Path) -> str:
    """A file's name less its format: "train" for train.jsonl and train.jsonl.gz alike."""
    name = path.name
    return Path(name[: -len(GZIP)] if name.lower().endswith(GZIP) else name).stem


def unknown_type(path: Path, what: str, readers: Registry, extra: str = "") -> DataError:
    """The error for a file of a type ``readers`` do not read (``what``: the use, as "for tagging")."""
    kind = file_type(path)
    expected = f"one of {', '.join(readers.names())}{extra}"
    if kind in _SPREADSHEETS:
        expected += ("; a spreadsheet: save it as CSV (Excel: File > Save As > CSV UTF-8), or with pandas: "
                     "pandas.read_excel(PATH).to_csv('data.csv', index=False)")
    if data_type(path) == "conll":
        expected += (f"; {path.name} holds CoNLL tagging data (a token and its tag a line), which train reads with "
                     "--task tagging or auto")
    elif kind == "txt" and "tsv" in readers:
        expected += "; a .txt of tab-separated columns under a header row (Excel's Unicode Text) is read renamed .tsv"
    named = f"'.{kind}'" if kind else "(no type at the end of its name)"
    return DataError(path, f"unknown file type {named}{what}", expected=expected)


def read_examples(path: str | Path, fields: Fields = Fields()) -> list[Example]:
    """Read one labelled file; the format comes from the suffix (.csv, .tsv, .jsonl/.json)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file", expected=f"a path to a file of type {', '.join(READERS.names())}")
    if file_type(path) not in READERS:
        raise unknown_type(path, "", READERS)
    examples = READERS.get(file_type(path))(path, fields)
    if not examples:
        raise DataError(path, "the file holds no examples",
                        expected="at least one labelled row" if fields.label else "at least one row of text")
    return examples


def file_text(path: Path) -> str:
    """The text of a UTF-8 file (a BOM dropped), or of a UTF-16 one with its BOM; gunzipped when its name
    ends in .gz. A DataError names the line of the first byte that does not decode."""
    data = path.read_bytes()
    if path.name.lower().endswith(GZIP):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:  # not gzip (BadGzipFile), or cut short
            raise DataError(path, f"not a readable gzip file ({err})",
                            expected="a gzip-compressed file, or the file uncompressed and named without .gz") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode Text" (a .txt of tabs)
        return _decoded(path, data, "utf-16", 0)
    if encoding := utf16_without_bom(data):
        warnings.warn(f"{path}: read as {encoding.upper()}: it has no byte-order mark, but a NUL in every other byte, "
                      "as UTF-16 text has and UTF-8 text never does; re-save it as UTF-8 to be sure")
        return _decoded(path, data, encoding, 0)
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    return _decoded(path, data, "utf-8", bom)


def utf16_without_bom(data: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" where ``data`` looks like UTF-16 that lost its byte-order mark: a NUL byte in
    over half of one side of its first byte pairs and in none of the other, as Latin-script text has in UTF-16.
    Read as UTF-8 its ASCII decodes with NULs between the letters, and its first other letter fails."""
    head = data[:4096]
    pairs = len(head) // 2
    low, high = head[1::2].count(0), head[0::2].count(0)  # NULs in the second byte of each pair, and the first
    if pairs < 4 or (low == 0) == (high == 0):
        return None
    return "utf-16-le" if low > pairs / 2 else "utf-16-be" if high > pairs / 2 else None


def _decoded(path: Path, data: bytes, encoding: str, bom: int) -> str:
    """``data`` after its first ``bom`` bytes, decoded, or a DataError naming the line of the first bad byte."""
    try:
        return data[bom:].decode(encoding)
    except UnicodeDecodeError as err:
        # err.start counts from after the BOM; count lines and report the offset in the whole file
        line = data[bom: bom + err.start].decode(encoding, errors="replace").count("\n") + 1
        hint = windows_1252_hint(path, data, bom + err.start) if encoding == "utf-8" else ""
        raise DataError(path, f"bytes that are not {encoding.upper()} (byte {bom + err.start})", line=line,
                        expected=f"a {encoding.upper()} encoded file (re-save it as UTF-8){hint}") from None


def _label_of(value: Any, path: Path, line: int, field: str) -> str:
    name = label_name(value)
    if isinstance(value, list) and len(value) > 1:
        raise DataError(path, f"{len(value)} labels, {value!r}", line=line, field=field,
                        expected="one class per example (ctxlearn predicts one class per text, not several)")
    if name is None:
        empty = value is None or isinstance(value, str) or value == []
        nan = isinstance(value, float) and value != value  # pandas' missing value, written as NaN
        problem = ("missing label (NaN, as pandas writes a missing value)" if nan else "missing or empty label"
                   if empty else f"label {value!r} is not a class")
        raise DataError(path, problem, line=line, field=field, expected="a class name or an integer")
    return name


def _text_value(value: Any, path: Path, line: int, field: str, blank: bool = False) -> str:
    if blank and (value is None or isinstance(value, str) and unseen(value)):
        return ""
    if value is None:
        raise EmptyText(path, "missing", line=line, field=field, expected="a non-empty string")
    if not isinstance(value, str):
        raise DataError(path, f"{type(value).__name__} instead of text", line=line, field=field,
                        expected="a non-empty string")
    if unseen(value):
        raise EmptyText(path, unseen_problem(value), line=line, field=field, expected="a non-empty string")
    return value


def _example(record: dict[str, Any], fields: Fields, path: Path, line: int) -> Example:
    text = _text_value(record.get(fields.text), path, line, fields.text, fields.blank)
    pair = (_text_value(record.get(fields.text_pair), path, line, fields.text_pair, fields.blank)
            if fields.text_pair else None)
    label = _label_of(record.get(fields.label), path, line, fields.label) if fields.label else ""
    read = (fields.text, fields.text_pair, fields.label)
    others = tuple((k, _plain(v)) for k, v in record.items() if k not in read) if fields.others else ()
    return Example(text=text, label=label, text_pair=pair, line=line, others=others)


def _plain(value: Any) -> Any:
    """A column value as every output format holds it: Parquet and Arrow dates and times in ISO 8601, decimals
    and durations as their text, bytes as UTF-8 text (invalid bytes escaped), lists and structs item by item.
    Kept as read, a date column crashed predict's JSON output (and, past one part, its CSV output too)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, (datetime.date, datetime.time)):  # a datetime is a date
        return value.isoformat()
    return str(value)


def _check_fields(present: list[str], fields: Fields, path: Path, line: int,
                  sample: Callable[[], list[dict[str, Any]]] | None = None) -> None:
    """A DataError naming the first field the file lacks, and the flags for all it lacks (a file of
    `review`, `stars` needs both --text-field and --label-field: one error, not two runs); with the
    file's first rows (``sample``, read only then), the columns their values suggest, as flags to copy,
    and where no label column is suggested, a column of scores that would first need binning."""
    missing = [(role, getattr(fields, role)) for role in ("text", "label", "text_pair")
               if getattr(fields, role) is not None and getattr(fields, role) not in present]
    if not missing:
        return
    nor = f" (nor is {' or '.join(repr(name) for _, name in missing[1:])})" if missing[1:] else ""
    flags = " ".join(f"--{role.replace('_', '-')}-field NAME" for role, _ in missing)
    rows, taken = sample() if sample else [], {f for f in (fields.text, fields.text_pair) if f in present}
    found = likely_fields(rows, [role for role, _ in missing], taken, fields.blank) if rows else {}
    likely = f"; by their values, likely {field_flags(found)}" if found else ""
    scores = score_columns(rows, taken) if "label" in dict(missing) and "label" not in found else {}
    if scores:  # a column the label guess passes over, which --label-field would only get refused
        name, shown = next(iter(scores.items()))
        likely += (f"; {name!r} holds scores ({', '.join(shown[:3])}, ...), not classes: bin them into classes "
                   "first (as builtin:movie-sentiment does with its ratings)")
    names = ", ".join(map(repr, present))
    if any(";" in name for name in present):  # a ';'-separated file whose header has a comma is read by commas
        likely += "; the header's names hold ';': for a file separated by semicolons, add the line sep=; above it"
    raise DataError(path, f"not found{nor}", line=line, field=missing[0][1],
                    missing=tuple(role for role, _ in missing), likely=found,
                    expected=f"one of the fields present ({names}), named with {flags}{likely}")


def _read_delimited(path: Path, text: str, fields: Fields, delimiter: str,
                    quoting: int = csv.QUOTE_MINIMAL, skip: int = 0) -> list[Example]:
    """The examples of a delimited file whose header follows ``skip`` lines (Excel's ``sep=;``)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
    try:
        for _ in range(skip + 1):
            header = next(reader)
    except StopIteration:
        raise DataError(path, "the file is empty", line=skip + 1, expected="a header row naming the columns") from None
    except csv.Error as err:  # was a traceback: `text,"label"x`
        raise DataError(path, f"malformed header row ({err})", line=skip + 1,
                        expected="a header row of properly quoted column names") from None
    header, at = [h.strip() for h in header], reader.line_num
    dupes = sorted({h for h in header if h and header.count(h) > 1})  # unnamed: trailing empty columns (Excel)
    if dupes:
        raise DataError(path, "duplicate column in header", line=at, field=dupes[0], expected="unique column names")
    fields = fields.resolve(header)
    _check_fields(header, fields, path, at, lambda: _first_rows(reader, header))
    skipped: dict[str, list[int]] = {SKIPPED_EMPTY: [], SKIPPED_HEADER: []}
    examples = list(_rows(reader, header, fields, path, skipped))
    for why, lines in skipped.items():
        if lines:
            warnings.warn(f"{path}: skipped {len(lines)} row(s) {why} (line {lines[0]}"
                          f"{', ...' if len(lines) > 1 else ''}); each example and prediction names its line",
                          stacklevel=3)
    return examples


# rows a delimited file's reader skips, with a warning: spreadsheets export trailing rows of empty cells (",",
# and a quoted "" is an empty cell too); CSV files joined with `cat` repeat the header, which read as an example
# would be a class named after the label column
SKIPPED_EMPTY, SKIPPED_HEADER = "whose cells are all empty", "that repeat the header, as files joined with cat do"
BOM = "\ufeff"  # a byte-order mark: where a file joined with cat began, and where Excel's CSV files begin


def _rows(reader: Any, header: list[str], fields: Fields, path: Path,
          skipped: dict[str, list[int]]) -> Iterator[Example]:
    """The examples of the rows after the header; blank lines are skipped, and so are rows whose cells
    are all empty or repeat the header, whose lines go into ``skipped``."""
    line = 1
    while True:
        start = reader.line_num + 1  # each row (blank ones too) begins on the line after the last one read
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            # name the line the bad row starts on: an unterminated quote makes the reader run to the end of file
            raise DataError(path, f"malformed row ({err})", line=start,
                            expected="properly quoted fields") from None
        line = start  # a row with a quoted line break in it spans lines: it is named by its first, where it begins
        if not row or all(not c.strip() for c in row):
            skipped[SKIPPED_EMPTY] += [line] if row else []
            continue
        if [c.replace(BOM, "").strip() for c in row] == header:  # a joined file's BOM starts its header
            skipped[SKIPPED_HEADER].append(line)
            continue
        if len(row) != len(header):
            raise DataError(path, f"row has {len(row)} columns, header has {len(header)}", line=line,
                            expected=f"one value per header column ({_delimiter_hint(reader.dialect)})")
        yield _example(dict(zip(header, row)), fields, path, line)


def _first_rows(reader: Any, header: list[str]) -> list[dict[str, Any]]:
    """Up to ``SAMPLE`` well-formed rows after the header, as records; reading stops at a malformed one."""
    rows: list[dict[str, Any]] = []
    try:
        for row in reader:
            if len(row) == len(header):
                rows.append(dict(zip(header, row)))
            if len(rows) == SAMPLE:
                break
    except csv.Error:
        pass
    return rows


def _delimiter_hint(dialect: Any) -> str:
    if dialect.quoting == csv.QUOTE_NONE:
        return "a tab inside a value splits it; replace it with a space"
    return "quote values that contain the delimiter"


@READERS.register("csv")
def read_csv(path: Path, fields: Fields) -> list[Example]:
    text = file_text(path)
    named = excel_separator(text)
    return _read_delimited(path, text, fields, named or csv_delimiter(text), skip=1 if named else 0)


def excel_separator(text: str) -> str | None:
    """The delimiter a first line such as ``sep=;`` names: Excel writes it before the header (and reads the
    file by it), as a CSV's columns might otherwise be split at the wrong character."""
    found = re.fullmatch(r"sep=(.)", LINE_BREAK.split(text, 1)[0])
    return found[1] if found else None


def csv_delimiter(text: str) -> str:
    """',', or ';' when the header line has no comma and a ';' between columns: the CSV that Excel
    writes where the comma is the decimal mark (most of Europe), with ';'-separated values; a tab where the
    header has tabs and no comma (a tab-separated file named .csv, as Excel's "Unicode Text" may be saved)."""
    header = LINE_BREAK.split(text, 1)[0]
    if "," in header:
        return ","
    return "\t" if "\t" in header else ";" if ";" in header else ","


@READERS.register("tsv")
def read_tsv(path: Path, fields: Fields) -> list[Example]:
    # no quoting, as Hugging Face reads GLUE's TSV files: a text that starts with '"' ('"Frank" is a
    # great movie') is text, not an opening quote that swallows the tab and the rows after it; unless the
    # file quotes its fields as pandas and Excel write them (``quoted_tsv``)
    text = file_text(path)
    quoted = quoted_tsv(text)
    if quoted:
        warnings.warn(f"{path}: read as quoted TSV, as pandas' to_csv(sep='\\t') and Excel write it: {quoted} of its "
                      "fields are in double quotes, with \"\" for a quote inside; unquoted, the quotes stayed in the "
                      "text", stacklevel=2)
    return _read_delimited(path, text, fields, "\t", csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE)


QUOTED_FIELD = re.compile(r'"(?:[^"]|"")*"')  # one field in double quotes, a quote inside it doubled


def quoted_tsv(text: str) -> int:
    """How many fields of a TSV file are quoted as pandas' ``to_csv(sep="\\t")`` and Excel write them, where
    every field that starts with '"' is one such field and some hold a doubled '""' (which only quoting
    explains); 0 otherwise, as for GLUE's files, where '"Frank" is a great movie' is text."""
    opened = [f for line in LINE_BREAK.split(text) for f in line.split("\t") if f.startswith('"')]
    if not opened or not all(QUOTED_FIELD.fullmatch(f) for f in opened):
        return 0
    return len(opened) if any('""' in f[1:-1] for f in opened) else 0


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of a UTF-8 text file."""
    # split on \n, \r\n or \r only: str.splitlines() also breaks at U+2028, U+2029 and U+0085,
    # which JSON allows unescaped inside strings
    return enumerate(LINE_BREAK.split(file_text(path)), start=1)


STDIN = "-"  # an input path that reads standard input as text, one per line


def is_text_lines(path: Path) -> bool:
    """Whether ``path`` holds one text per line: a .txt file, or ``-`` (standard input)."""
    return str(path) == STDIN or file_type(path) == "txt"


def data_files(folder: Path, types: Container[str]) -> list[Path]:
    """The files in ``folder`` of the ``types`` (file_type), in name order; not save_to_disk's own JSON."""
    return [f for f in sorted(folder.iterdir())
            if f.is_file() and file_type(f) in types and f.name not in DATASETS_FILES]


def check_input_type(path: Path, readers: Registry, also: tuple[str, ...] = ()) -> None:
    """Refuse a file to label that is neither of a type ``readers`` read (or ``also`` names, read by the
    caller) nor one text per line (.txt, -)."""
    if path.is_dir():  # a split folder (save_to_disk's test/): name its data files
        inside = [str(f) for f in data_files(path, readers)]
        hint = f"; it holds {', '.join(inside[:3])}{', ...' if len(inside) > 3 else ''}" if inside else ""
        raise DataError(path, "a folder, and inputs to label are one file",
                        expected=f"a file of type {', '.join(readers.names())} or txt{hint}")
    if not is_text_lines(path) and file_type(path) not in readers:
        more = "".join(f", {kind} (a text column)" for kind in also)
        raise unknown_type(path, " for inputs to label", readers, f"{more}, or txt (one text per line)")


def text_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """(line, text) of each non-blank line of a .txt file, or of standard input for ``-``, holding
    ``what`` (one per line). Blank lines among the texts are said to be skipped: the predictions then no
    longer line up with the file's lines, but for their line numbers."""
    if str(path) == STDIN:
        numbered = enumerate(LINE_BREAK.split(sys.stdin.read()), start=1)
    elif path.is_file():
        numbered = numbered_lines(path)
    else:
        raise DataError(path, "no such file", expected=f"a .txt file of {what}, one per line, or - for standard input")
    numbered = list(numbered)
    lines = [(line, raw) for line, raw in numbered if not unseen(raw)]
    if not lines:
        raise DataError(path, "the file holds no text", expected=f"{what}, one per line")
    blank = [line for line, raw in numbered if line < lines[-1][0] and unseen(raw)]  # trailing ones shift nothing
    if blank:
        more = ", ..." if len(blank) > 1 else ""
        warnings.warn(f"{path}: skipped {len(blank)} blank line(s) (line {blank[0]}{more}); each prediction names its "
                      "line", stacklevel=2)
    return lines


def json_records(path: Path, example: str = '{"text": "...", "label": "..."}') -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) for each object of a JSON Lines file (one per non-blank line), or of a file that
    holds one JSON array of objects (as pandas' ``to_json(orient="records")`` writes), where ``line`` is
    the line the object starts on; ``example`` shows a good object in errors."""
    text = file_text(path)
    if text.lstrip().startswith("["):
        yield from by_object(path, list(_array_records(path, text, example)))
        return
    refuse_a_table_object(path, text)
    for line, raw in enumerate(LINE_BREAK.split(text), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.removeprefix(BOM))  # the BOM of a file joined on with cat
        except json.JSONDecodeError as err:
            raise DataError(path, f"malformed JSON ({err.msg} at column {err.colno})", line=line,
                            expected=f"one JSON object per line, e.g. {example}") from None
        yield line, _object(record, path, line, f"one JSON object per line, e.g. {example}")


_NUMBERED_BY_OBJECT: set[str] = set()  # the JSON arrays ``by_object`` has warned of


def by_object(path: Path, records: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """The records of a JSON array numbered by the line each starts on or, where objects share a line (pandas'
    ``to_json(orient="records")`` writes the whole array on one), by their place in it, said once: every
    example and prediction of such a file was 'line 1', and a prediction could not be told to its input."""
    if len({line for line, _ in records}) == len(records):
        return records
    if str(path) not in _NUMBERED_BY_OBJECT:  # once a process: a run reads its data file more than once
        _NUMBERED_BY_OBJECT.add(str(path))
        warnings.warn(f"{path}: its {len(records):,} JSON objects do not each start a line of their own, so each is "
                      f"numbered by its place in the array (1 to {len(records):,}) where a line is named: in errors, "
                      "and in the line of each prediction", stacklevel=4)
    return [(n, record) for n, (_, record) in enumerate(records, start=1)]


def _array_records(path: Path, text: str, example: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The objects of a JSON array, each with the line it starts on, decoded one at a time so that an
    error names the line of the object it is in."""
    expected = f"a JSON array of objects, e.g. [{example}, ...]"
    decoder, gap = json.JSONDecoder(), re.compile(r"\s*")
    pos = gap.match(text, text.index("[") + 1).end()
    line, counted = 1, 0  # line of text[counted]: lines are counted on from the last object, not from the start

    def line_at(at: int) -> int:
        nonlocal line, counted
        line, counted = line + text.count("\n", counted, at), at
        return line

    while text[pos:pos + 1] != "]":
        try:
            record, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise DataError(path, f"malformed JSON ({err.msg} at column {err.colno})", line=err.lineno,
                            expected=expected) from None
        at = line_at(pos)
        yield at, _object(record, path, at, expected)
        pos = gap.match(text, end).end()
        if text[pos:pos + 1] == ",":
            pos = gap.match(text, pos + 1).end()
        elif text[pos:pos + 1] != "]":
            raise DataError(path, "malformed JSON (',' or ']' expected after an object)", line=line_at(pos),
                            expected=expected)
    after = gap.match(text, pos + 1).end()
    if after < len(text):
        raise DataError(path, "text after the JSON array", line=line_at(after), expected=expected)


def _object(record: Any, path: Path, line: int, expected: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise DataError(path, f"a JSON {type(record).__name__}, not an object", line=line, expected=expected)
    return record


@READERS.register("jsonl")
def read_jsonl(path: Path, fields: Fields) -> list[Example]:
    out: list[Example] = []
    for line, record in flat_records(path, {fields.text, fields.text_pair, fields.label}):
        if not out:
            fields = fields.resolve(list(record))
        if not (out and fields.blank):  # blank: a later record without the text key has no text, as a null has
            _check_fields(list(record), fields, path, line, None if out else lambda: _first_records(path))
        out.append(_example(record, fields, path, line))
    return out


READERS.register("json")(read_jsonl)


def flat_records(path: Path, keep: Container[str | None] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """``json_records`` with each object's nested objects as dotted fields, so ``--text-field review.body``
    names a text inside ``{"review": {"body": ...}}`` (and a missing field's error lists such names); the
    fields named in ``keep`` stay whole, so a label that is an object is refused as one."""
    for line, record in json_records(path):
        yield line, flat(record, keep)


def flat(record: dict[str, Any], keep: Container[str | None] = (), prefix: str = "") -> dict[str, Any]:
    """``{"review": {"body": "..."}, "stars": 4}`` -> ``{"review.body": "...", "stars": 4}``: nested objects'
    keys joined by dots, but for those in ``keep``; lists and other values stay as they are."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and name not in keep:
            out.update(flat(value, keep, f"{name}."))
        else:
            out[name] = value
    return out


def _first_records(path: Path) -> list[dict[str, Any]]:
    """Up to ``SAMPLE`` objects from the start of a JSON file (nested fields dotted, as ``read_jsonl`` reads
    them); reading stops at a malformed line."""
    records: list[dict[str, Any]] = []
    try:
        for _, record in flat_records(path):
            records.append(record)
            if len(records) == SAMPLE:
                break
    except DataError:
        pass
    return records


@READERS.register("parquet")
def read_parquet(path: Path, fields: Fields) -> list[Example]:
    """A Parquet file (as the Hugging Face Hub serves data sets), or an Arrow one (as ``datasets``'
    ``save_to_disk`` writes); its "line" is the row, counted from 1.
    A label column of class ids takes the names the file's ``datasets`` metadata gives them (ClassLabel);
    without names, ids become their digits as a JSON file's do."""
    table = parquet_table(path)
    header = table.column_names
    fields = fields.resolve(header)
    _check_fields(header, fields, path, 1, lambda: table.slice(0, SAMPLE).to_pylist())
    records = table.to_pylist()
    names = class_names(table.schema.metadata, fields.label) if fields.label else None
    if names:
        records = [named_class(record, fields.label, names, path, row) for row, record in enumerate(records, start=1)]
    return [_example(record, fields, path, row) for row, record in enumerate(records, start=1)]


READERS.register("arrow")(read_parquet)
