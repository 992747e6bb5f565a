from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ctxlearn.artifact import (EVAL, EXPORT, PRETRAINED, RUN, WRITTEN, check_out, load_classifier, output_kind,
                               read_manifest, restore_stranded, weights_sha256, write_atomically)
from ctxlearn.errors import ConfigError, ModelError


def _run(d: Path, name: str, text: str) -> None:
    (d / "manifest.json").write_text("{}")  # what makes a folder a run that a rerun may replace
    (d / name).write_text(text)


def test_failed_write_keeps_the_old_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    write_atomically(out, lambda d: _run(d, "a.txt", "old"))

    def crash(d: Path) -> None:
        (d / "a.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(out, crash)
    assert (out / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run"], "no temporary folders are left behind"


def _strand(tmp_path: Path) -> Path:
    """A run folder as a crash mid-swap leaves it: moved aside, the new one not yet moved in."""
    out = tmp_path / "run"
    write_atomically(out, lambda d: _run(d, "a.txt", "old"))
    out.rename(tmp_path / ".run.old-1700000000000000000")
    return out


def test_a_folder_stranded_mid_swap_is_put_back_by_the_next_write(tmp_path: Path) -> None:
    out = _strand(tmp_path)
    write_atomically(out, lambda d: _run(d, "b.txt", "new"))
    assert (out / "b.txt").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_folder_stranded_mid_swap_is_put_back_when_read(tmp_path: Path) -> None:
    out = _strand(tmp_path)
    with pytest.raises(ModelError, match="no 'model_source'"):  # the restored folder's own manifest is read
        read_manifest(out)
    assert (out / "a.txt").read_text() == "old"
    assert restore_stranded(out) is None  # nothing left to restore


def test_the_newest_stranded_folder_wins(tmp_path: Path) -> None:
    out = _strand(tmp_path)
    newer = tmp_path / ".run.old-1800000000000000000"
    newer.mkdir()
    (newer / "manifest.json").write_text('{"newer": 1}')
    assert restore_stranded(out) == out and (out / "manifest.json").read_text() == '{"newer": 1}'


def test_weights_hash_covers_bin_only_folders(tmp_path: Path) -> None:
    (tmp_path / "pytorch_model.bin").write_bytes(b"weights")
    first = weights_sha256(str(tmp_path))
    (tmp_path / "pytorch_model.bin").write_bytes(b"other weights")
    assert first is not None and weights_sha256(str(tmp_path)) not in (None, first)
    assert weights_sha256(str(tmp_path / "absent")) is None


def test_rewrite_replaces_whole_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    write_atomically(out, lambda d: _run(d, "a.txt", "1"))
    write_atomically(out, lambda d: _run(d, "b.txt", "2"))
    assert sorted(p.name for p in out.iterdir()) == [WRITTEN, "b.txt", "manifest.json"]
    assert (out / WRITTEN).read_text() == "b.txt\nmanifest.json\n"  # what the command wrote, to tell the user's apart


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no manifest.json"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("text, message", [('{"method": "lo', "not valid JSON"), ('{"method": "lora"}', "no 'model_source'"),
                                           ("[]", "no 'model_source'")])
def test_a_damaged_manifest_is_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ModelError, match=message) as err:
        read_manifest(tmp_path)
    assert str(tmp_path / "manifest.json") in str(err.value)


def test_a_folder_of_other_files_is_never_replaced(tmp_path: Path) -> None:
    """`--out ~/data` would otherwise delete the user's files when the run swaps its folder in."""
    (tmp_path / "mine.csv").write_text("text,label\n")
    with pytest.raises(ConfigError, match="not a ctxlearn run"):
        write_atomically(tmp_path, lambda d: (d / "a.txt").write_text("1"))
    assert (tmp_path / "mine.csv").read_text() == "text,label\n"


@pytest.mark.parametrize("make, allowed", [
    (lambda p: None, True),                                     # new folder
    (lambda p: p.mkdir(), True),                                # empty folder
    (lambda p: (p.mkdir(), (p / "manifest.json").write_text("{}")), True),   # an earlier run: rerun replaces it
    (lambda p: (p.mkdir(), (p / "pretrain.yaml").write_text("")), True),      # an earlier pretrain run
    (lambda p: (p.mkdir(), (p / "notes.txt").write_text("x")), False),       # the user's folder
    (lambda p: p.write_text("x"), False),                       # a file
])
def test_check_out_allows_only_new_empty_or_run_folders(tmp_path: Path, make, allowed: bool) -> None:
    out = tmp_path / "out"
    make(out)
    if allowed:
        check_out(out)
    else:
        with pytest.raises(ConfigError, match="--out"):
            check_out(out)


@pytest.mark.parametrize("marker, held", [("manifest.json", RUN), ("eval.json", EVAL), ("pretrain.yaml", PRETRAINED),
                                          ("export.json", EXPORT)])
def test_a_command_replaces_only_a_folder_of_the_kind_it_writes(tmp_path: Path, marker: str, held: str) -> None:
    """`eval --out runs/x` on a trained run replaced it with a report: its model was gone without a word."""
    out = tmp_path / "out"
    out.mkdir()
    (out / marker).write_text("{}")
    (out / "manifest.json").write_text("{}")  # an export holds its source's manifest too
    assert output_kind(out) == held
    for writes in (RUN, EXPORT, EVAL, PRETRAINED):
        if writes == held:
            check_out(out, writes=writes)
            continue
        with pytest.raises(ConfigError, match=f"--out {out} holds {held}, and writing {writes} there would replace"):
            write_atomically(out, lambda d: (d / "x").write_text("1"), writes=writes)
        assert (out / marker).is_file() and not (out / "x").exists()


def test_a_run_folder_holding_the_users_own_files_is_not_replaced(tmp_path: Path) -> None:
    """`train --out runs/x` again deleted the notes.txt and analysis/ a user had put in runs/x, saying only
    "replacing the run that was there"."""
    out = tmp_path / "run"
    write_atomically(out, lambda d: _run(d, "a.txt", "1"), writes=RUN)
    write_atomically(out, lambda d: _run(d, "a.txt", "2"), writes=RUN)  # a rerun replaces what a run wrote
    (out / "notes.txt").write_text("keep")
    (out / "analysis").mkdir()
    with pytest.raises(ConfigError, match=re.escape(f"--out {out} holds analysis, notes.txt, which no ctxlearn "
                                                    "command wrote there")):
        write_atomically(out, lambda d: _run(d, "a.txt", "3"), writes=RUN)
    assert (out / "notes.txt").read_text() == "keep" and (out / "a.txt").read_text() == "2"
    (out / WRITTEN).unlink()  # a folder written before the record: nothing to tell the user's files apart by
    check_out(out, writes=RUN)


def test_out_may_not_hold_the_input(tmp_path: Path) -> None:
    data = tmp_path / "runs" / "data"
    data.mkdir(parents=True)
    with pytest.raises(ConfigError, match="which this command reads"):
        check_out(tmp_path / "runs", reads=data)
    check_out(tmp_path / "elsewhere", reads=data)


def test_the_manifest_names_the_versions_it_was_made_with(tiny_run: Path) -> None:
    """The manifest listed python, torch, transformers and peft, but not the ctxlearn that cut the splits."""
    import peft
    import torch

    from ctxlearn import __version__

    got = read_manifest(tiny_run)["versions"]
    assert (got["ctxlearn"], got["torch"], got["peft"]) == (__version__, torch.__version__, peft.__version__)


def _copy_with_base(run: Path, to: Path, **recorded: str) -> Path:
    """A copy of the run folder ``run`` whose manifest records its base model with the fields ``recorded``."""
    shutil.copytree(run, to)
    manifest = json.loads((to / "manifest.json").read_text())
    manifest["model_source"].update({k: v for k, v in recorded.items() if k != "sha"})
    manifest["base_weights_sha256"] = recorded.get("sha", manifest["base_weights_sha256"])
    (to / "manifest.json").write_text(json.dumps(manifest))
    return to


def test_a_run_copied_where_its_base_model_lives_elsewhere_finds_it_by_name(tiny_run: Path, tmp_path: Path) -> None:
    """A head or adapter run copied to another machine (or a venv made again) loaded its base model from the
    path recorded where it was trained, and failed with 'weights sha256 differs'."""
    import torch

    moved = _copy_with_base(tiny_run, tmp_path / "moved", path="/gone/venv/site-packages/model")
    batch = {"input_ids": torch.tensor([[2, 5, 14, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    with torch.no_grad():
        logits = [load_classifier(run)[0](**batch).logits for run in (tiny_run, moved)]
    torch.testing.assert_close(logits[0], logits[1], rtol=0, atol=0)


def test_a_base_model_with_other_weights_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    other = _copy_with_base(tiny_run, tmp_path / "other", sha="0" * 64)
    with pytest.raises(ModelError, match=r"is not the one this run was made with \(weights sha256 differs from 000000"):
        load_classifier(other)
