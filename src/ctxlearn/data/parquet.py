"""Parquet, as the Hugging Face Hub serves data sets, and Arrow, as ``datasets``' ``save_to_disk`` writes
them: the table (pyarrow, when installed), and the class names a ``datasets`` ClassLabel column gives its
ids, from the file's metadata."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ctxlearn.errors import DataError


TABLE_TYPES = ("parquet", "arrow")  # datasets' files: the Hub's Parquet, and save_to_disk's Arrow


def parquet_table(path: Path) -> Any:
    """The pyarrow table of a Parquet file, or of an Arrow file (as ``datasets``' ``save_to_disk`` writes:
    an IPC stream), or a DataError that says what is missing or wrong."""
    return _read(path, schema_only=False)


def list_columns(path: Path) -> list[str]:
    """The list-valued columns of a Parquet or Arrow file (a tagging file's tokens and tags), from its schema
    alone (the rows are not read)."""
    import pyarrow as pa

    schema = _read(path, schema_only=True)
    return [f.name for f in schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)]


def _read(path: Path, schema_only: bool) -> Any:
    """The table (or only its schema) of a Parquet or Arrow file, or a DataError that says what is missing
    or wrong."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(path, f"reading {path.suffix} files needs the pyarrow package",
                        expected="pip install pyarrow, or the data as .csv or .jsonl") from None
    arrow = path.suffix.lower() == ".arrow"
    try:
        if arrow:
            return _read_arrow(path, schema_only)
        return pq.read_schema(path) if schema_only else pq.read_table(path)
    except Exception as err:  # pyarrow's errors for a file that is not Parquet or Arrow (ArrowInvalid, OSError)
        kind = "Arrow" if arrow else "Parquet"
        raise DataError(path, f"not a readable {kind} file ({err})", expected=f"a table saved as {kind}") from None


def _read_arrow(path: Path, schema_only: bool) -> Any:
    """An Arrow IPC stream (``datasets`` writes these), or else an Arrow IPC file; memory-mapped."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        try:
            reader = pa.ipc.open_stream(source)
        except pa.ArrowInvalid:
            source.seek(0)
            reader = pa.ipc.open_file(source)
        return reader.schema if schema_only else reader.read_all()


def class_names(metadata: dict[bytes, bytes] | None, column: str) -> list[str] | None:
    """The names a Hugging Face ``datasets`` ClassLabel column (or a list of them: NER tags) gives its
    ids, from a Parquet file's schema metadata (``{"info": {"features": {column: {"_type": "ClassLabel",
    "names": [...]}}}}``)."""
    try:
        feature = json.loads((metadata or {})[b"huggingface"])["info"]["features"][column]
    except (KeyError, TypeError, ValueError):
        return None
    if isinstance(feature, dict) and feature.get("_type") in ("List", "Sequence"):
        feature = feature.get("feature")
    names = feature.get("names") if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" else None
    return [str(n) for n in names] if isinstance(names, list) else None


def named_class(record: dict[str, Any], column: str, names: list[str], path: Path, row: int) -> dict[str, Any]:
    """``record`` with its class id in ``column`` replaced by the class's name."""
    value = record.get(column)
    if value == -1:
        raise DataError(path, "label -1, which marks a row without its label (as GLUE's test splits on the Hub "
                        "hide theirs)", line=row, field=column,
                        expected=f"a class id, 0 to {len(names) - 1} ({', '.join(names)}); leave an unlabelled "
                                 "test file out of the folder, and a test split is cut from train")
    if isinstance(value, int) and 0 <= value < len(names):
        return {**record, column: names[value]}
    return record
