"""``--estimate-steps``: a few measured steps predict time per epoch and peak memory; nothing is written."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ctxlearn.config import TrainConfig
from ctxlearn.train import estimate, hf
from ctxlearn.train.encode import Encoded
from ctxlearn.train.run import run_training


@pytest.mark.parametrize("method", ["topk", "head"])
def test_estimate_measures_without_writing_a_run(tiny_bert: Path, toy_data: Path, tmp_path: Path, method: str,
                                                capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    est = run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method=method, out=str(out),
                                   bf16="off", threads=1, estimate_steps=3, epochs=2))
    assert est["method"] == method and est["epoch_seconds"] > 0 and est["peak_rss_mb"] > 0
    assert est["total_seconds"] == pytest.approx(est["epoch_seconds"] * est["epochs"])
    assert est["settled_rss_mb"] < est["measured_peak_rss_mb"] <= est["peak_rss_mb"]  # growth over a run added
    if method == "topk":
        assert est["steps_measured"] == 3 and est["epochs"] == 2 and est["tokens_per_s"] > 0
        assert est["save_seconds"] > 0 and est["step_seconds_per_token"] > 0  # one checkpoint saved and timed
        assert est["steps_planned"] > 3 and est["peak_rss_mb"] > est["measured_peak_rss_mb"]
        assert f"measured over 3 steps, plus the heap's growth over the run's {est['steps_planned']} steps" \
            in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("run.partial*"))


def test_step_cost_splits_each_step_into_a_fixed_part_and_a_part_per_token() -> None:
    from ctxlearn.train.hf import step_cost

    timed = [(0.05 + 0.001 * n, n) for n in (900, 700, 500, 300, 200)]
    assert step_cost(timed) == pytest.approx((0.05, 0.001))


@pytest.mark.parametrize("timed", [[(1.0, 500), (1.1, 510), (0.9, 490)],  # no spread in tokens: no line to fit
                                   [(0.2, 900), (0.5, 500), (0.6, 300)],  # noise: more tokens took less time
                                   [(1.0, 500), (2.0, 1000)]])  # too few steps
def test_step_cost_falls_back_to_seconds_per_token(timed: list[tuple[float, int]]) -> None:
    from ctxlearn.train.hf import step_cost

    seconds, tokens = sum(t for t, _ in timed), sum(n for _, n in timed)
    assert step_cost(timed) == pytest.approx((0.0, seconds / tokens))


def test_each_evaluation_an_epoch_adds_a_dev_pass_and_a_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    measured = {"step_seconds": (0.0, 0.001), "steps": 3, "steady_tokens_per_s": 1000.0, "save_seconds": 2.0,
                "settled_rss_mb": 1.0, "dev_seconds_per_example": 0.01}
    monkeypatch.setattr(hf, "fit_with_trainer", lambda *a, **k: measured)
    data = {"train": Encoded([{"input_ids": [1] * 10}] * 100), "dev": Encoded([{"input_ids": [1] * 10}] * 100)}
    method = SimpleNamespace(epochs=1, lr=1e-4, callbacks=None)

    def epoch(per_epoch: int) -> float:
        cfg = TrainConfig(data="d", estimate_steps=3, evals_per_epoch=per_epoch)
        return estimate.estimate_trainer(cfg, method, None, None, data, Path("w"), False, None)["epoch_seconds"]

    assert epoch(1) == pytest.approx(1.0 + 2.0 + 1.0)  # 1,000 tokens at 1 ms, a save, 100 dev rows at 10 ms
    assert epoch(3) == pytest.approx(1.0 + 3 * (2.0 + 1.0))
