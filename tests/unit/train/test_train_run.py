"""One training run: which method options it reads, and what it does with the others."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctxlearn.config import TrainConfig
from ctxlearn.errors import ConfigError
from ctxlearn.methods import METHODS
from ctxlearn.train.run import check_method_options, run_training


def test_the_lp_ft_probe_searches_the_users_c_grid(tiny_bert: Path, toy_data: Path, tmp_path: Path) -> None:
    run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method="full", out=str(tmp_path / "run"),
                             epochs=1, batch_size=16, patience=0, bf16="off", head_init="probe",
                             method_options={"head": {"c_grid": "3"}}))  # 3 is in no default grid
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["training"]["probe_head_C"] == 3.0


def _first_loss(tiny_bert: Path, toy_data: Path, out: Path, smoothing: float) -> float:
    run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method="full", out=str(out), epochs=1,
                             batch_size=16, patience=0, bf16="off", label_smoothing=smoothing))
    return json.loads((out / "manifest.json").read_text())["training"]["loss_curve"][0]


def test_label_smoothing_reaches_the_training_loss(tiny_bert: Path, toy_data: Path, tmp_path: Path) -> None:
    """Same seed, same first batches: near initialisation the logits are near zero, so a smoothed loss
    starts close to the plain one but not at it; 0.9 of the target spread moves it measurably
    (and not at all if the Trainer were not handed the smoothed loss)."""
    plain = _first_loss(tiny_bert, toy_data, tmp_path / "plain", 0.0)
    smoothed = _first_loss(tiny_bert, toy_data, tmp_path / "smoothed", 0.9)
    assert plain != pytest.approx(smoothed, abs=5e-3)  # measured: 0.7216 against 0.7045


def test_label_smoothing_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ConfigError, match="label_smoothing must be in"):
        TrainConfig(data="d", label_smoothing=1.0)


def _check(method: str, options: dict, **kw) -> None:
    check_method_options(TrainConfig(data="d", method=method, method_options=options, **kw), METHODS.get(method))


def test_options_of_another_method_are_named_as_ignored(capsys) -> None:
    _check("lora", {"adalora": {"init_r": 4, "target_r": 2}, "lora": {"r": 4}})
    err = capsys.readouterr().err
    assert "--adalora-init-r, --adalora-target-r" in err and "method is lora" in err and "--lora-r" not in err


def test_head_options_feed_the_probe_without_a_warning(capsys) -> None:
    _check("lora", {"head": {"c_grid": "1"}}, head_init="probe")
    assert capsys.readouterr().err == ""
    _check("lora", {"head": {"c_grid": "1"}})
    assert "--head-c-grid" in capsys.readouterr().err


@pytest.mark.parametrize("options, named", [({"lroa": {"r": 4}}, "'lroa' is not a method"),
                                            ({"adalora": {"rank": 4}}, "unknown field 'rank'")])
def test_options_of_no_method_or_no_field_are_refused(options: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        _check("lora", options)
