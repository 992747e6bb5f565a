"""Which files of a data folder hold which split: one file (train.jsonl, dev.csv, validation.tsv), the
Hugging Face Hub's shards of one (train-00000-of-00002.parquet, train-00001-of-00002.parquet), or a
folder named for the split that holds its files (``datasets``' ``save_to_disk`` writes
train/data-00000-of-00001.arrow; the Hub's Parquet conversion, train/0000.parquet)."""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Callable, Container, TypeVar

from ctxlearn.data.readers import DATASETS_FILES, READERS, STDIN, data_files, data_type, file_stem
from ctxlearn.errors import DataError
from ctxlearn.registry import Registry

SPLIT_NAMES = {"train": ("train",), "dev": ("dev", "validation", "valid", "val"), "test": ("test",)}
_SHARD = re.compile(r"(?P<stem>.+)-(?P<index>\d{5})-of-(?P<of>\d{5})", re.IGNORECASE)  # as push_to_hub names them
T = TypeVar("T")


def find_split_files(folder: Path, suffixes: Container[str] = READERS) -> dict[str, list[Path]]:
    """Map split name -> its files in ``folder``, among files of the types ``suffixes`` (by default those
    of the classification readers): a file named for the split (the first, where several are: reading the
    folder refuses that), else the split's shards, all of them, else the data files of a folder named for it."""
    return _split_files_of(_named_entries(folder, suffixes), suffixes)


def _split_files_of(named: dict[str, list[Path]], suffixes: Container[str]) -> dict[str, list[Path]]:
    """``find_split_files`` on a folder's entries by the split name each says (``_named_entries``)."""
    found: dict[str, list[Path]] = {}
    for split, stems in SPLIT_NAMES.items():
        files = next((files for stem in stems if (files := _split_files(named.get(stem, []), suffixes))), None)
        if files:
            found[split] = files
    return found


def _named_entries(folder: Path, suffixes: Container[str]) -> dict[str, list[Path]]:
    """The entries of ``folder`` by the split name each says (``_split_name``), in name order."""
    named: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        name = _split_name(path, suffixes)
        if name is not None:
            named.setdefault(name, []).append(path)
    return named


def _refuse_two_files_of_a_split(folder: Path, named: dict[str, list[Path]]) -> None:
    """Two whole files named for one split among ``folder``'s ``named`` entries (train.csv beside
    train.jsonl, dev.jsonl beside validation.jsonl): the first was read and the other passed over without
    a word."""
    for split, stems in SPLIT_NAMES.items():
        whole = [p.name for stem in stems for p in named.get(stem, [])
                 if p.is_file() and not _SHARD.fullmatch(file_stem(p))]
        if len(whole) > 1:
            raise DataError(folder, f"{len(whole)} files hold the {split} split: {', '.join(whole)}",
                            expected=f"one {split} file in the folder: move the others out of it (an older copy, "
                                     "another format of the same data)")


def data_folder_files(folder: Path, readers: Registry) -> dict[str, list[Path]]:
    """``find_split_files`` among the file types ``readers`` read, refusing a folder with no train split;
    the error names the subfolders that hold one, as a data set downloaded from the Hugging Face Hub
    keeps its files in ``data/`` or in a folder per configuration."""
    named = _named_entries(folder, readers)  # listed once: a .txt's name may need its first lines read (data_type)
    files = _split_files_of(named, readers)
    if "train" in files:
        _refuse_two_files_of_a_split(folder, named)
        _warn_of_unread(folder, named, files)
        return files
    inner = [str(sub) for sub in sorted(folder.iterdir()) if sub.is_dir() and "train" in find_split_files(sub, readers)]
    hint = f"; {' or '.join(inner)} holds one: name that folder with --data" if inner else ""
    other = [p.name for p in sorted(folder.iterdir()) if p.is_file() and file_stem(p) in SPLIT_NAMES["train"]]
    if other:  # a train file this task does not read: CoNLL (tagging) data given --task classification
        tagging = " (CoNLL is tagging data: --task tagging, or leave --task auto)" if any(
            data_type(folder / name) == "conll" for name in other) else ""
        hint += f"; {', '.join(other)} is of another type{tagging}"
    raise DataError(folder, "no train file in this folder",
                    expected=f"a train file ({'/'.join('.' + name for name in readers.names())}), optionally dev "
                             f"(or validation) and test files, or a train folder of such files{hint}")


def _warn_of_unread(folder: Path, named: dict[str, list[Path]], files: dict[str, list[Path]]) -> None:
    """Where dev or test is cut from train, the data files beside it that no split name claims: eval.csv or
    testing.csv was passed over without a word, and its split cut from train."""
    cut = [split for split in SPLIT_NAMES if split not in files]
    known = {stem for stems in SPLIT_NAMES.values() for stem in stems}
    unread = [p.name for stem, paths in named.items() if stem not in known for p in paths if p.is_file()]
    if cut and unread:
        names = "; ".join(f"{split}: {', '.join(stems)}" for split, stems in SPLIT_NAMES.items())
        warnings.warn(f"{folder}: {', '.join(unread[:3])}{' and more' if len(unread) > 3 else ''} not read: a "
                      f"folder's files are read by their names ({names}), so {' and '.join(cut)} "
                      f"{'is' if len(cut) == 1 else 'are'} cut from train; rename a file that holds one",
                      stacklevel=3)


def _split_name(path: Path, suffixes: Container[str]) -> str | None:
    """The split an entry's name says: a folder's name, a data file's stem less a shard's -00000-of-00002."""
    if path.is_dir():
        return path.name.lower()
    if data_type(path) not in suffixes:  # a .txt of CoNLL lines counts as .conll
        return None
    shard = _SHARD.fullmatch(file_stem(path))
    return (shard["stem"] if shard else file_stem(path)).lower()


def _split_files(paths: list[Path], suffixes: Container[str]) -> list[Path]:
    """The files of one split among ``paths``, the entries named for it (empty where none holds data)."""
    files = [p for p in paths if not p.is_dir()]
    whole = [p for p in files if not _SHARD.fullmatch(file_stem(p))]
    if whole:
        return whole[:1]
    if files:
        return _all_shards(files)
    return next((inside for folder in paths if (inside := _folder_split(folder, suffixes))), [])


def _folder_split(folder: Path, suffixes: Container[str]) -> list[Path]:
    """The data files of a folder named for a split, if it holds data only (datasets' own JSON and hidden
    files aside): a project's test/ folder of code and JSON fixtures is no split."""
    inside = data_files(folder, suffixes)
    others = [f for f in folder.iterdir() if f not in inside and f.name not in DATASETS_FILES
              and not f.name.startswith(".")]
    return inside if not others else []


def _all_shards(shards: list[Path]) -> list[Path]:
    """``shards``, refused unless they are all of one split's: 00000 to N-1 of N."""
    found = [_SHARD.fullmatch(file_stem(p)) for p in shards]
    counts = {int(m["of"]) for m in found if m}
    have = sorted(int(m["index"]) for m in found if m)
    if len(counts) == 1 and have == list(range(next(iter(counts)))):
        return shards
    raise DataError(shards[0].parent, f"the shards of the {found[0]['stem']!r} split are not all there "
                    f"(numbers {', '.join(map(str, have))} of {', '.join(map(str, sorted(counts)))})",
                    expected="every shard the names count (00000 to N-1 of N), as the Hub holds them")


def split_source(files: list[Path]) -> str:
    """How errors and the manifest name a split's files: the file, the shards' pattern, or their folder."""
    if len(files) == 1:
        return str(files[0])
    shard = _SHARD.fullmatch(file_stem(files[0]))
    if shard:
        rest = files[0].name[len(file_stem(files[0])):]  # .parquet, .jsonl.gz
        return str(files[0].with_name(f"{shard['stem']}-*-of-{shard['of']}{rest}"))
    return str(files[0].parent)


def shown_sources(sources: dict[str, str]) -> dict[str, str]:
    """Split sources as reports show them: train as "the rest of FILE" where dev or test was cut from it
    (their sources read "10% of FILE (stratified, ...)"), since train is not all of FILE then."""
    train = sources.get("train", "")
    cut = any(f" of {train} (" in src for split, src in sources.items() if split != "train")
    return {**sources, "train": f"the rest of {train}"} if train and cut else sources


def read_split(files: list[Path], read: Callable[[Path], list[T]], last_line: Callable[[T], int],
               shift: Callable[[T, int], T]) -> list[T]:
    """The items ``read`` from a split's files, in order. After the first file, each item's line counts on
    from the files before it (``shift``), so that a check made on the whole split (a label train lacks)
    names the split's row; an error of one file's reader names that file and its own line."""
    out: list[T] = []
    for path in files:
        items = read(path)
        offset = last_line(out[-1]) if out else 0
        out += [shift(item, offset) for item in items] if offset else items
    return out


DATA_ARGUMENT = ("a data file (csv, tsv, jsonl, json, parquet, arrow, conll), a folder of train, dev and test files, "
                 "or builtin:NAME")


def check_data_exists(spec: str, flag: str = "--data", expected: str = DATA_ARGUMENT, builtin: bool = True) -> None:
    """Refuse a data argument that names no file, folder or (``builtin``) built-in data set before a model or the
    training libraries load: the readers said the same, after 4-8 s of imports. Its contents are theirs to check."""
    if builtin and spec.startswith("builtin:"):
        from ctxlearn.data.builtin import BUILTINS

        BUILTINS.get(spec.removeprefix("builtin:"), field=flag)
    elif spec != STDIN and not Path(spec).exists():
        raise DataError(spec, f"no such file or folder (given with {flag})", expected=expected)


def same_data(spec: str | Path, data: Any) -> bool:
    """Whether ``spec`` names the data a run recorded as ``data`` (a path, however written, or builtin:NAME)."""
    if not data:
        return False
    return str(spec) == str(data) or Path(spec).resolve() == Path(str(data)).resolve()
