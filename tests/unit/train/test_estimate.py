"""``--estimate-steps``: a few measured steps predict time per epoch and peak memory; nothing is written."""
from __future__ import annotations

from pathlib import Path

import pytest

from ctxlearn.config import TrainConfig
from ctxlearn.train.run import run_training


@pytest.mark.parametrize("method", ["topk", "head"])
def test_estimate_measures_without_writing_a_run(tiny_bert: Path, toy_data: Path, tmp_path: Path, method: str) -> None:
    out = tmp_path / "run"
    est = run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method=method, out=str(out),
                                   bf16="off", threads=1, estimate_steps=3, epochs=2))
    assert est["method"] == method and est["epoch_seconds"] > 0 and est["peak_rss_mb"] > 0
    assert est["total_seconds"] == pytest.approx(est["epoch_seconds"] * est["epochs"])
    if method == "topk":
        assert est["steps_measured"] == 3 and est["epochs"] == 2 and est["tokens_per_s"] > 0
    assert not out.exists() and not list(tmp_path.glob("run.partial*"))
