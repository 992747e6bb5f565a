"""One training run: which method options it reads, and what it does with the others."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ctxlearn.config import TrainConfig
from ctxlearn.errors import ConfigError
from ctxlearn.methods import METHODS
from ctxlearn.train.run import check_gradient_fields, check_method_options, latency_ms, run_training, summary


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


def _imbalanced(toy_data: Path) -> Path:
    """toy_data with five in six positive training texts dropped: 80 negative, 14 positive."""
    lines = (toy_data / "train.jsonl").read_text().splitlines()
    kept = [l for i, l in enumerate(l for l in lines if '"positive"' in l) if i % 6 == 0]
    (toy_data / "train.jsonl").write_text("\n".join([l for l in lines if '"negative"' in l] + kept) + "\n")
    return toy_data


def test_balanced_class_weights_reach_the_trainers_loss(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import ctxlearn.train.hf as hf
    from ctxlearn.train.loss import training_loss

    handed, calls = [], []

    def recorded(smoothing: float, weights: torch.Tensor | None):  # the weights handed over, and each use of the loss
        handed.append(weights)
        loss = training_loss(smoothing, weights)
        return lambda *a, **kw: calls.append(1) or loss(*a, **kw)

    monkeypatch.setattr(hf, "training_loss", recorded)
    run_training(TrainConfig(data=str(_imbalanced(toy_data)), model=str(tiny_bert), method="full", epochs=1,
                             out=str(tmp_path / "run"), batch_size=16, patience=0, bf16="off", class_weights="balanced"))
    labels = json.loads((tmp_path / "run" / "labels.json").read_text())
    expected = {"negative": 94 / (2 * 80), "positive": 94 / (2 * 14)}
    assert handed[0].tolist() == pytest.approx([expected[name] for name in labels])
    assert len(calls) >= 6  # each of the 6 training steps (94 texts in batches of 16) took its loss from it (and dev too)


def _mean_positive_probability(run: Path) -> float:
    labels = json.loads((run / "labels.json").read_text())
    rows = [json.loads(l) for l in (run / "test_predictions.jsonl").read_text().splitlines()]
    return sum(r["probs"][labels.index("positive")] for r in rows) / len(rows)


def test_balanced_class_weights_lift_the_rare_class_in_the_heads_fit(tiny_bert: Path, toy_data: Path,
                                                                      tmp_path: Path) -> None:
    """On the tiny random BERT's features the two classes overlap, so the fit leans on the prior: weighing
    the 14 positive texts as much as the 80 negative ones raises every test text's positive probability."""
    data = _imbalanced(toy_data)
    runs = {}
    for rule in ("none", "balanced"):
        run_training(TrainConfig(data=str(data), model=str(tiny_bert), method="head", out=str(tmp_path / rule),
                                 bf16="off", class_weights=rule))
        runs[rule] = _mean_positive_probability(tmp_path / rule)
    assert runs["balanced"] > runs["none"] + 0.05


def test_a_run_with_a_rare_class_tunes_its_threshold_on_dev_and_scores_it_on_test(tiny_bert: Path,
                                                                                 tmp_path: Path) -> None:
    from conftest import write_rare_toy

    data = write_rare_toy(tmp_path / "toy")
    run_training(TrainConfig(data=str(data), model=str(tiny_bert), method="head", out=str(tmp_path / "run"),
                             bf16="off"))
    tuned = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["tuned_threshold"]
    assert tuned["label"] == "positive" and tuned["dev_share"] == pytest.approx(12 / 52)
    rows = [json.loads(l) for l in (tmp_path / "run" / "test_predictions.jsonl").read_text().splitlines()]
    by_rule = np.mean([(r["probs"][1] >= tuned["value"]) == (r["gold"] == "positive") for r in rows])
    assert tuned["test"]["threshold"]["accuracy"] == pytest.approx(by_rule)
    assert "## Decision threshold" in (tmp_path / "run" / "report.md").read_text()


def test_a_run_on_even_classes_proposes_no_threshold(tiny_run: Path) -> None:
    assert "tuned_threshold" not in json.loads((tiny_run / "metrics.json").read_text())["test"]
    assert "## Decision threshold" not in (tiny_run / "report.md").read_text()


class _Started(Exception):
    """Raised in place of training, once the head's start is recorded."""


def _started_bias(monkeypatch: pytest.MonkeyPatch, cfg: TrainConfig) -> torch.Tensor:
    """The head's bias as the first training step would see it; the run stops there."""
    import ctxlearn.train.run as run

    started = {}

    def record(model, *args, **kwargs):
        started["bias"] = model.head.bias.detach().clone()
        raise _Started

    monkeypatch.setattr(run, "fit_with_trainer", record)
    with pytest.raises(_Started):
        run_training(cfg)
    return started["bias"]


@pytest.mark.parametrize("init, rule, expected", [
    ("prior", "none", {"negative": 80 / 94, "positive": 14 / 94}),  # each class's share of the training rows
    ("prior", "balanced", {"negative": 0.5, "positive": 0.5}),  # what balanced weights make of them
    ("random", "none", {"negative": 0.5, "positive": 0.5}),  # zero bias
    ("auto", "none", {"negative": 80 / 94, "positive": 14 / 94}),  # 80 against 14 is over inspect's ratio of 5
])
def test_the_head_starts_at_the_training_prior(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, init: str, rule: str,
                                               expected: dict) -> None:
    bias = _started_bias(monkeypatch, TrainConfig(data=str(_imbalanced(toy_data)), model=str(tiny_bert), method="lora",
                                                  out=str(tmp_path / "run"), bf16="off", head_init=init,
                                                  class_weights=rule))
    labels = sorted(expected)  # label ids follow the sorted label names
    assert bias.softmax(-1).tolist() == pytest.approx([expected[name] for name in labels], abs=1e-6)


def test_auto_keeps_zero_bias_on_near_even_classes(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (toy_data / "train.jsonl").read_text().splitlines()
    kept = [l for i, l in enumerate(l for l in lines if '"positive"' in l) if i % 2 == 0]  # 80 against 42
    (toy_data / "train.jsonl").write_text("\n".join([l for l in lines if '"negative"' in l] + kept) + "\n")
    bias = _started_bias(monkeypatch, TrainConfig(data=str(toy_data), model=str(tiny_bert), method="lora",
                                                  out=str(tmp_path / "run"), bf16="off", head_init="auto"))
    assert bias.tolist() == [0.0, 0.0]


def test_a_model_that_predicts_one_class_for_all_dev_is_called_out(capsys: pytest.CaptureFixture) -> None:
    from ctxlearn.train.run import warn_if_one_class

    gold = np.array([0, 0, 1, 0])
    collapsed = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.9, 0.1]])
    assert warn_if_one_class(collapsed, gold, ["ham", "spam"], 2e-3)
    err = capsys.readouterr().err
    assert "predicts 'ham' for every dev text" in err and "lower --lr than 0.002" in err
    assert err.startswith("ctxlearn: warning: the trained model")  # worded as the CLI's errors and other warnings
    mixed = collapsed.copy()
    mixed[2] = [0.4, 0.6]  # the spam text called spam
    assert not warn_if_one_class(mixed, gold, ["ham", "spam"], 2e-3)
    assert not warn_if_one_class(collapsed[:2], gold[:2], ["ham", "spam"], 2e-3)  # dev holds one class: nothing to say
    assert capsys.readouterr().err == ""


def test_a_model_below_the_majority_baseline_is_warned_of(capsys) -> None:
    from ctxlearn.train.run import warn_below_majority

    below = {"accuracy": 0.5, "majority_accuracy": 0.85, "majority_class": "ham"}
    warn_below_majority(below, "none")
    assert capsys.readouterr().err == ("ctxlearn: warning: test: accuracy 0.500 is below the 0.850 of always answering "
                                       "'ham', the most common class: training diverged or stalled; try another "
                                       "--seed or --lr, or --method head\n")
    warn_below_majority(below, "balanced")  # weighting classes may trade accuracy for recall on the rare ones
    assert "--class-weights trades accuracy for the rare classes' recall: compare macro-F1" in capsys.readouterr().err
    warn_below_majority({**below, "accuracy": 0.86}, "none")
    assert capsys.readouterr().err == ""


def test_a_tagger_that_marks_few_entities_is_warned_of(capsys) -> None:
    from ctxlearn.train.run import warn_if_few_entities

    assert warn_if_few_entities({"entities": 836, "predicted_entities": 15}, 3e-4)
    assert capsys.readouterr().err == ("ctxlearn: warning: the trained model marks 15 entities in dev, which holds "
                                       "836: it learned mostly to tag every word O; train longer (more --epochs, or "
                                       "more data than --max-train), or another --lr than 0.0003\n")
    assert not warn_if_few_entities({"entities": 836, "predicted_entities": 84}, 3e-4)  # a tenth: not few
    assert not warn_if_few_entities({"entities": 0, "predicted_entities": 0}, None)  # dev holds none: nothing to say
    assert capsys.readouterr().err == ""


def test_a_run_on_its_own_threads_gives_the_callers_back(tiny_bert: Path, toy_data: Path, tmp_path: Path) -> None:
    """run_training(threads=1) left torch on one thread for the rest of the process: every later test,
    or notebook cell, ran on it."""
    torch.set_num_threads(2)
    run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method="head", out=str(tmp_path / "run"),
                             bf16="off", threads=1))
    assert torch.get_num_threads() == 2


def test_evals_per_epoch_score_dev_within_the_epoch_and_at_its_end(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    """160 rows in batches of 16 are 10 steps; 3 evaluations an epoch come every 4 steps and at the last one
    (which a step interval alone would skip, leaving the final weights unscored)."""
    run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method="full", out=str(tmp_path / "run"),
                             epochs=1, batch_size=16, patience=0, bf16="off", evals_per_epoch=3))
    scored = [line for line in capsys.readouterr().err.splitlines() if " dev accuracy " in line]
    assert [line.split(" dev ")[0] for line in scored] == ["[ctxlearn] epoch 0.4", "[ctxlearn] epoch 0.8",
                                                           "[ctxlearn] epoch 1"]


def test_evals_per_epoch_below_one_score_dev_every_few_epochs_and_at_the_end(tiny_bert: Path, toy_data: Path,
                                                                              tmp_path: Path, capsys) -> None:
    """A small sample's epochs are a step or two: evaluating each (872 SST-2 dev texts after each of 50
    one-step epochs) took a 32-example lora run 312 s. 160 rows in batches of 80 are 2 steps an epoch."""
    run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method="full", out=str(tmp_path / "run"),
                             epochs=5, batch_size=80, patience=0, bf16="off", evals_per_epoch=0.5))
    scored = [line for line in capsys.readouterr().err.splitlines() if " dev accuracy " in line]
    assert [line.split(" dev ")[0] for line in scored] == ["[ctxlearn] epoch 2", "[ctxlearn] epoch 4",
                                                           "[ctxlearn] epoch 5"]


@pytest.mark.parametrize("value", [0, -1])
def test_evals_per_epoch_of_zero_or_below_is_refused(value: float) -> None:
    with pytest.raises(ConfigError, match="evals_per_epoch must be above 0"):
        TrainConfig(data="d", evals_per_epoch=value)


def test_gradient_settings_given_to_head_are_named_as_ignored(capsys: pytest.CaptureFixture) -> None:
    """`--method head --epochs 10 --lr 1e-3` ran as if neither were given, and said nothing."""
    check_gradient_fields(TrainConfig(data="d", method="head", epochs=10, lr=1e-3, evals_per_epoch=2),
                          METHODS.get("head"))
    err = capsys.readouterr().err
    assert "--epochs, --lr, --evals-per-epoch: head fits a logistic regression" in err and "ignored" in err
    check_gradient_fields(TrainConfig(data="d", method="head", class_weights="balanced"), METHODS.get("head"))
    check_gradient_fields(TrainConfig(data="d", method="full", epochs=10, lr=1e-3), METHODS.get("full"))
    assert capsys.readouterr().err == ""  # class weights reach head's fit; full uses both
    for start in ("prior", "random", "probe"):  # prior and random were ignored without a word
        check_gradient_fields(TrainConfig(data="d", method="head", head_init=start), METHODS.get("head"))
        assert "--head-init: head fits a logistic regression" in capsys.readouterr().err


def test_prediction_latency_leaves_out_a_first_pass_s_set_up(tiny_bert) -> None:
    from transformers import AutoModel, AutoTokenizer

    from ctxlearn.data.example import Example
    from ctxlearn.models.classifier import EncoderClassifier
    from ctxlearn.train.encode import encode

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    model = EncoderClassifier(AutoModel.from_pretrained(tiny_bert), 2)
    forward, calls = model.forward, []

    def slow_first_call(**batch):  # one-time set-up, as a model's first pass pays it
        calls.append(1)
        time.sleep(0.4 if len(calls) == 1 else 0)
        return forward(**batch)

    model.forward = slow_first_call
    data = encode([Example("a fine film", "")] * 4, tok, None, 16)
    assert latency_ms(model, data, tok, bf16=False) < 50  # the first pass alone: 100 ms per example
    assert len(calls) == 2  # both passes ran: one batch each


def test_a_max_length_past_the_backbones_position_table_is_refused(tiny_bert: Path, toy_data: Path,
                                                                    tmp_path: Path) -> None:
    """minilm at --max-length 1000 was a traceback from its embeddings once a text ran past 512 tokens."""
    from types import SimpleNamespace

    from transformers import BertConfig, RobertaConfig

    from ctxlearn.train.run import check_position_table

    cfg = TrainConfig(data=str(toy_data), model=str(tiny_bert), method="head", max_length=129, out=str(tmp_path / "r"))
    with pytest.raises(ConfigError, match=r"^--max-length 129 is longer than the position table of .*tiny-bert"
                                          r".* \(128 positions\); use --max-length 128 or less, and --long-inputs "
                                          "windows to read longer texts whole$"):
        run_training(cfg)
    assert not (tmp_path / "r").exists()
    no_limit = SimpleNamespace(model_max_length=int(1e30))  # a tokenizer that names no length
    check_position_table(BertConfig(max_position_embeddings=512), no_limit, 512, "bert")  # the table's length passes
    roberta = RobertaConfig(max_position_embeddings=514)  # its positions start after the padding index
    with pytest.raises(ConfigError, match=r"\(512 positions\)"):
        check_position_table(roberta, SimpleNamespace(model_max_length=512), 514, "roberta")
    check_position_table(SimpleNamespace(model_type="other"), no_limit, 4096, "other")  # no table: no limit


@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_virtual_tokens_count_against_the_position_table(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                         method: str) -> None:
    """Prefix tuning at --max-length 500 with 20 virtual tokens trained on minilm, then failed with a tensor-size
    traceback at the first long text, in training or in predict of the finished run."""
    cfg = TrainConfig(data=str(toy_data), model=str(tiny_bert), method=method, max_length=120, out=str(tmp_path / "r"),
                      method_options={method: {"virtual_tokens": 10}})
    with pytest.raises(ConfigError, match=rf"^--max-length 120 and the 10 virtual tokens of {method} ahead of it are "
                                          rf"longer than the position table of .*tiny-bert\d* \(128 positions\); use "
                                          rf"--max-length 118 or less, or fewer --{method}-virtual-tokens"):
        run_training(cfg)
    assert not (tmp_path / "r").exists()


def test_a_runs_warnings_are_kept_in_its_manifest_and_report(tiny_run: Path) -> None:
    """Warnings went to the terminal alone: report.md, read later or by someone else, showed a score
    without what was said of it (40 dev examples pick a checkpoint largely by chance)."""
    notes = json.loads((tiny_run / "manifest.json").read_text())["warnings"]
    assert any(n.startswith("dev: 40 examples (one is 2.5 points of accuracy)") for n in notes), notes
    report = (tiny_run / "report.md").read_text()
    assert f"## Warnings ({len(notes)}, given during this run)\n\n" + "".join(f"- {n}\n" for n in notes) in report
    manifest, metrics = (json.loads((tiny_run / name).read_text()) for name in ("manifest.json", "metrics.json"))
    assert summary(metrics, manifest, tiny_run)["warnings"] == notes  # --json gives them to scripts too
