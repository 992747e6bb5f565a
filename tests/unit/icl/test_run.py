"""``ctxlearn icl`` end to end on the tiny Llama: the run folder has training's shape plus icl.json, and
a reloaded IclPredictor gives the run's own predictions."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import yaml

from ctxlearn.cache import kind_dir
from ctxlearn.cli import main
from ctxlearn.data import load_splits
from ctxlearn.icl.config import IclConfig
from ctxlearn.icl.predictor import IclPredictor
from ctxlearn.icl.run import warn_below_majority, warn_one_answer
from ctxlearn.predict import open_predictor
from icl_fixtures import tiny_lm  # noqa: F401  (fixture)

TRAIN_SHAPE = {"metrics.json", "report.md", "confusion.png", "confusion.txt", "manifest.json", "config.yaml",
               "labels.json", "test_predictions.jsonl"}


def icl_args(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["icl", "--data", str(data), "--model", str(model), "--out", str(out), "--shots", "2", "--limit", "8",
            "--json", *extra]


def saved_probs(out: Path) -> np.ndarray:
    return np.array([json.loads(line)["probs"] for line in (out / "test_predictions.jsonl").open()])


def test_icl_warns_of_labels_that_differ_only_in_case_and_of_class_ids(tiny_lm, toy_data, tmp_path, capsys) -> None:
    train = toy_data / "train.jsonl"
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    rows[1]["label"] = rows[1]["label"].upper()  # one "POSITIVE" among the "positive"s
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(icl_args(tiny_lm, toy_data, tmp_path / "run")) == 0
    assert "warning: labels 'POSITIVE' and 'positive' differ only in case" in capsys.readouterr().err
    for split in ("train", "dev", "test"):  # a Hub data set's class ids in place of names
        path = toy_data / f"{split}.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({**r, "label": int(r["label"].lower() == "positive")}) + "\n" for r in rows))
    assert main(icl_args(tiny_lm, toy_data, tmp_path / "ids")) == 2  # the toy vocabulary has no digits: refused
    assert "warning: 2 of 2 labels reach the LM as words with no letter (0, 1)" in capsys.readouterr().err  # said first


def test_more_shots_than_the_pool_holds_are_said_to_be_capped(tiny_lm, toy_data, tmp_path, capsys) -> None:
    """--shots 5000 on 160 training texts ran with every one of them in each prompt, without a word."""
    n = len((toy_data / "train.jsonl").read_text().splitlines())
    assert main(icl_args(tiny_lm, toy_data, tmp_path / "run", "--shots", str(n + 1))) == 0
    assert (f"warning: --shots {n + 1}: the demonstration pool (train) holds {n} examples; each prompt shows at most "
            f"{n}") in capsys.readouterr().err
    assert main(icl_args(tiny_lm, toy_data, tmp_path / "fits", "--shots", str(n))) == 0
    assert "--shots" not in capsys.readouterr().err


def test_a_limit_over_a_test_file_ordered_by_label_is_said_to_miss_classes(tiny_lm, toy_data, tmp_path, capsys) -> None:
    """--limit scores the first N test examples, as lm-eval's does; over a file sorted by label (all the
    negatives, then the positives) --limit 20 scored negatives alone, and the report gave their accuracy."""
    test = toy_data / "test.jsonl"
    rows = sorted((json.loads(line) for line in test.read_text().splitlines()), key=lambda r: r["label"])
    test.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(icl_args(tiny_lm, toy_data, tmp_path / "sorted", "--limit", "20")) == 0
    assert ("warning: test: --limit 20 scores the first 20 of 40 examples, which hold no 'positive' (50% of the "
            "split): the file looks ordered by label; shuffle it (header kept first) or score it all (--limit 0)"
            ) in capsys.readouterr().err
    random.Random(0).shuffle(rows)
    test.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(icl_args(tiny_lm, toy_data, tmp_path / "shuffled", "--limit", "20")) == 0
    assert "looks ordered" not in capsys.readouterr().err


@pytest.mark.parametrize("select, extra", [("random", []), ("balanced", ["--calibrate"]), ("random-each", ["--calibrate"])])
def test_icl_run_writes_the_training_shape_and_reloads(tiny_lm, toy_data, tmp_path, capsys, select, extra) -> None:
    out = tmp_path / "run"
    assert main(icl_args(tiny_lm, toy_data, out, "--select", select, *extra)) == 0
    printed = capsys.readouterr()
    assert "test 40 (--limit: the first 8 only)" in printed.err
    assert "warning: test: 8 examples (one is 12.5 points of accuracy)" in printed.err  # the 8 scored, not the 40
    result = json.loads(printed.out)
    assert {"test_accuracy", "test_macro_f1", "dev_accuracy", "examples_per_s", "out"} <= set(result)
    assert TRAIN_SHAPE | {"icl.json"} <= {p.name for p in out.iterdir()}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data_scored"] == {"test": 8}  # the report's data table says 8 of 40 were scored
    assert "| test | 8 of 40 |" in (out / "report.md").read_text()
    assert manifest["method"] == "icl" and manifest["cost"]["trainable_params"] == 0
    icl = json.loads((out / "icl.json").read_text())
    assert icl["selection"]["select"] == select and icl["prompt"]["template"] == "Input: {text}\nLabel:"
    assert ("demonstrations" in icl) == (select != "random-each") and ("pool" in icl) == (select == "random-each")
    assert (icl["calibration"]["bias"] is not None) == bool(extra)
    report = (out / "report.md").read_text()
    assert "## In-context learning" in report
    rows = [json.loads(line) for line in (out / "test_predictions.jsonl").open()]
    wrong = sum(r["pred"] != r["gold"] for r in rows)
    assert (f"## Test errors, the surest first ({min(wrong, 10)} of {wrong};" in report) == (wrong > 0)

    assert IclPredictor(out).part == (64 if select == "random-each" else 256)  # shared demonstrations score faster
    if select != "random-each":  # stored demonstrations: the reload gives the run's own predictions
        test = load_splits(str(toy_data)).test[:8]
        np.testing.assert_allclose(IclPredictor(out).predict_proba(test), saved_probs(out), atol=1e-6)
        rows = IclPredictor(out).predict_texts([ex.text for ex in test])  # from Python, as a fine-tuned run
        np.testing.assert_allclose([[r["p_negative"], r["p_positive"]] for r in rows], saved_probs(out), atol=1e-5)
        t = float(np.median(saved_probs(out)[:, 1]))  # an icl run labels by a threshold too
        picky = open_predictor(out, threshold=f"positive={t!r}").predict_texts([ex.text for ex in test])
        assert [r["label"] for r in picky] == ["positive" if r["p_positive"] >= t else "negative" for r in rows]
        # the parts an interrupted predict keeps are labelled: under another threshold they are not read back
        assert open_predictor(out, threshold=f"positive={t!r}").run_key() != IclPredictor(out).run_key()


@pytest.mark.parametrize("order", ["similar-last", "random"])
def test_a_reloaded_random_each_run_predicts_an_input_the_same_alone_or_in_any_batch(tiny_lm, toy_data, tmp_path,
                                                                                    capsys, order) -> None:
    out = tmp_path / "run"
    assert main(icl_args(tiny_lm, toy_data, out, "--select", "random-each", "--order", order)) == 0
    capsys.readouterr()
    predictor, test = IclPredictor(out), load_splits(str(toy_data)).test[:6]
    batch = predictor.predict_proba(test)
    alone = np.concatenate([predictor.predict_proba([ex]) for ex in test])
    np.testing.assert_allclose(alone, batch, atol=1e-5)
    np.testing.assert_allclose(predictor.predict_proba(test[::-1])[::-1], batch, atol=1e-5)
    np.testing.assert_allclose(predictor.predict_proba([test[3], test[0]]), batch[[3, 0]], atol=1e-5)


def test_knn_run_caches_its_index_and_reloads(tiny_lm, tiny_bert, toy_data, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CTXLEARN_CACHE", str(tmp_path / "cache"))  # count only this run's index files
    out = tmp_path / "run"
    assert main(icl_args(tiny_lm, toy_data, out, "--select", "knn", "--encoder", str(tiny_bert), "--calibrate")) == 0
    capsys.readouterr()
    assert len(list(kind_dir("icl-index").glob("*.npy"))) == 2  # pool and queries
    assert (out / "pool.jsonl").is_file()
    demos = [json.loads(line)["demos"] for line in (out / "test_demonstrations.jsonl").open()]
    assert len({tuple(d) for d in demos}) > 1  # per-query demonstrations
    predictor = IclPredictor(out)
    np.testing.assert_allclose(predictor.predict_proba(load_splits(str(toy_data)).test[:8]), saved_probs(out), atol=1e-6)

    metrics = predictor.evaluate(toy_data / "test.jsonl")
    assert metrics["n"] == 40 and 0 <= metrics["accuracy"] <= 1
    pred = tmp_path / "pred.csv"
    assert predictor.predict_file(toy_data / "test.jsonl", pred) == 40
    rows = list(csv.DictReader(pred.open()))
    assert {"text", "label", "p_negative", "p_positive"} <= set(rows[0])


def test_yaml_recipe_then_flags_and_the_resolved_config_is_saved(tiny_lm, toy_data, tmp_path, capsys) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"select": "balanced", "shots": 4, "seed": 7, "verbalizer": "negative=bad,positive=good"}))
    out = tmp_path / "run"
    assert main(icl_args(tiny_lm, toy_data, out, "--config", str(recipe), "--select", "random")) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["select"] == "random" and saved["shots"] == 2 and saved["seed"] == 7
    assert set(saved) == set(IclConfig.__dataclass_fields__)
    assert json.loads((out / "icl.json").read_text())["prompt"]["verbalizer"] == {"negative": "bad", "positive": "good"}


@pytest.mark.parametrize("extra, message", [
    (["--select", "nearest"], "unknown demonstration selector 'nearest'"),
    (["--prompt", "pair"], "remove {text_pair}"),
    (["--verbalizer", "neg=bad"], "label 'neg'"),
])
def test_errors_are_reported_without_a_traceback(tiny_lm, toy_data, tmp_path, capsys, extra, message) -> None:
    assert main(icl_args(tiny_lm, toy_data, tmp_path / "run", *extra)) == 2
    assert message in capsys.readouterr().err


def test_an_lm_that_gives_every_example_one_label_is_called_out(tiny_lm, toy_data, tmp_path, capsys) -> None:
    # a label worded in 18 tokens scores far below one worded in one: every text gets 'negative'
    words = "negative=bad,positive=" + " ".join(["the good"] * 6)
    out = tmp_path / "run"
    assert main(icl_args(tiny_lm, toy_data, out, "--verbalizer", words)) == 0
    assert {json.loads(line)["pred"] for line in (out / "test_predictions.jsonl").open()} == {"negative"}
    err = capsys.readouterr().err
    assert "test: the LM answered 'negative' for every example, whatever the text: --calibrate" in err
    warn_one_answer("dev", 1, ["negative", "positive"], calibrated=True)  # calibrated already: other remedies
    assert "dev: the LM answered 'positive' for every example, whatever the text: other label words" in (
        capsys.readouterr().err)
    warn_one_answer("test", None, ["negative", "positive"], calibrated=False)
    assert capsys.readouterr().err == ""


def test_an_lm_below_the_majority_baseline_is_told_what_may_lift_it(capsys) -> None:
    """SMS spam, 4 balanced shots, uncalibrated: accuracy 0.22 where answering ham scores 0.85, and no word of it."""
    below = {"accuracy": 0.22, "majority_accuracy": 0.85, "majority_class": "ham"}
    warn_below_majority("test", below, calibrated=False)
    assert capsys.readouterr().err == ("ctxlearn: warning: test: accuracy 0.220 is below the 0.850 of always answering "
                                       "'ham', the most common class: --calibrate divides out the LM's bias toward "
                                       "some labels' words\n")
    warn_below_majority("dev", below, calibrated=True)
    assert "other label words (--verbalizer), more --shots or --select knn" in capsys.readouterr().err
    warn_below_majority("dev", below, calibrated=True, select="knn")  # advice the run already took is left out
    assert capsys.readouterr().err.endswith("the most common class: other label words (--verbalizer), more --shots\n")
    warn_below_majority("test", {**below, "accuracy": 0.9}, calibrated=False)
    assert capsys.readouterr().err == ""


def test_no_test_split_is_an_error_but_no_dev_split_is_fine_without_dev(tiny_lm, toy_data, tmp_path, capsys) -> None:
    one_file = toy_data / "train.jsonl"
    assert main(icl_args(tiny_lm, one_file, tmp_path / "run", "--test-fraction", "0")) == 2
    assert "no test split" in capsys.readouterr().err
    assert main(icl_args(tiny_lm, one_file, tmp_path / "run", "--dev-fraction", "0", "--dev")) == 2
    assert "no dev split" in capsys.readouterr().err
    assert main(icl_args(tiny_lm, one_file, tmp_path / "run", "--dev-fraction", "0")) == 0


def test_tagging_data_is_refused_with_what_tags_it(tiny_lm, tmp_path, capsys) -> None:
    (tmp_path / "ner.conll").write_text("Ada\tB-PER\nwrote\tO\n")
    assert main(icl_args(tiny_lm, tmp_path / "ner.conll", tmp_path / "run")) == 2
    assert "icl labels whole texts (classification), and " in capsys.readouterr().err


def test_an_encoder_is_refused_as_the_lm(tiny_bert, toy_data, tmp_path, capsys) -> None:
    assert main(icl_args(tiny_bert, toy_data, tmp_path / "run")) == 2
    assert "needs a causal LM" in capsys.readouterr().err


@pytest.mark.parametrize("select, extra", [("balanced", ["--calibrate"]), ("random-each", ["--calibrate"])])
def test_scoring_in_parts_reports_progress_and_changes_no_prediction(tiny_lm, toy_data, tmp_path, capsys,
                                                                     monkeypatch, select, extra) -> None:
    from ctxlearn.icl import run

    assert main(icl_args(tiny_lm, toy_data, tmp_path / "whole", "--select", select, "--no-dev", *extra)) == 0
    assert "scored" not in capsys.readouterr().err  # 8 queries: one part, no progress lines
    monkeypatch.setattr(run, "PART", 3)
    monkeypatch.setattr(run, "SHARED_PART", 3)
    assert main(icl_args(tiny_lm, toy_data, tmp_path / "parts", "--select", select, "--no-dev", *extra)) == 0
    err = capsys.readouterr().err
    assert [line.split(",")[0] for line in err.splitlines() if "scored" in line] == [
        "[ctxlearn] test: 3/8 scored", "[ctxlearn] test: 6/8 scored", "[ctxlearn] test: 8/8 scored"]
    np.testing.assert_allclose(saved_probs(tmp_path / "parts"), saved_probs(tmp_path / "whole"), atol=1e-6)
    whole, parts = (json.loads((tmp_path / f / "icl.json").read_text()) for f in ("whole", "parts"))
    for label, p_cf in whole["calibration"]["bias"]["p_cf"].items():  # computed again in each part
        assert parts["calibration"]["bias"]["p_cf"][label] == pytest.approx(p_cf, abs=1e-6)  # float32: 2e-8 apart under one thread


def test_parts_are_larger_for_shared_demonstrations_and_a_large_split_has_at_most_about_thirty() -> None:
    from ctxlearn.icl.run import part_size

    assert (part_size(False, 100), part_size(True, 100)) == (64, 256)
    assert part_size(False, 30_000) == part_size(True, 30_000) == 1000


def test_each_part_scores_the_content_free_prompts_its_queries_need(tiny_lm, toy_data, tmp_path, monkeypatch) -> None:
    """Per-query demonstrations (random-each, knn) bring content-free prompts of their own; all of them in
    the last part made a long silent tail after "ETA 2 s", and scored them apart from their queries' prefixes."""
    from ctxlearn.icl import classifier, run

    monkeypatch.setattr(run, "PART", 3)
    monkeypatch.setattr(run, "SHARED_PART", 3)
    real, sizes = classifier.score_prompts, []

    def scoring(model, prompts, *a, **kw):
        sizes.append(len(prompts))
        return real(model, prompts, *a, **kw)

    monkeypatch.setattr(classifier, "score_prompts", scoring)
    args = ("--select", "random-each", "--no-dev", "--calibrate")
    assert main(icl_args(tiny_lm, toy_data, tmp_path / "run", *args)) == 0
    queries = [3, 3, 2]
    assert len(sizes) == 3 and all(n > q for n, q in zip(sizes, queries)), sizes
    assert sum(sizes) - sum(queries) <= 3 * sum(queries)  # three content-free prompts per distinct demonstration set


def test_an_interrupted_run_keeps_its_scored_parts_and_the_rerun_scores_only_the_rest(tiny_lm, toy_data, tmp_path,
                                                                                      capsys, monkeypatch) -> None:
    """Ctrl-C in the third of three parts: the rerun reads the two kept parts, scores one, and ends with the
    probabilities of a run never interrupted; OUT.partial is then removed."""
    from ctxlearn.icl import classifier, run

    monkeypatch.setattr(run, "PART", 3)
    monkeypatch.setattr(run, "SHARED_PART", 3)
    args = ("--select", "balanced", "--no-dev", "--calibrate")
    assert main(icl_args(tiny_lm, toy_data, tmp_path / "whole", *args)) == 0
    real, calls = classifier.score_prompts, []

    def scoring(*a, **kw):
        calls.append(1)
        if stop_at and len(calls) == stop_at:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(classifier, "score_prompts", scoring)
    stop_at, out = 3, tmp_path / "run"
    capsys.readouterr()
    assert main(icl_args(tiny_lm, toy_data, out, *args)) == 130
    assert "interrupted; rerun the same command to continue" in capsys.readouterr().err
    assert len(list((tmp_path / "run.partial" / "scores").glob("*.npy"))) == 2 and not out.exists()
    stop_at, calls[:] = 0, []
    assert main(icl_args(tiny_lm, toy_data, out, *args)) == 0
    assert len(calls) == 1  # the third part alone
    lines = [line.split(", ")[0] for line in capsys.readouterr().err.splitlines() if "scored" in line]
    assert lines == ["[ctxlearn] test: 3/8 scored (3 read back from OUT.partial)",
                     "[ctxlearn] test: 6/8 scored (6 read back from OUT.partial)",
                     "[ctxlearn] test: 8/8 scored (6 read back from OUT.partial)"]
    np.testing.assert_allclose(saved_probs(out), saved_probs(tmp_path / "whole"), atol=1e-6)
    assert not (tmp_path / "run.partial").exists()


def test_max_train_draws_demonstrations_from_a_stratified_sample_of_that_many(tiny_lm, toy_data, tmp_path,
                                                                               capsys) -> None:
    out = tmp_path / "run"
    assert main(icl_args(tiny_lm, toy_data, out, "--select", "random", "--max-train", "10")) == 0
    assert "train 10 (demonstration pool)" in capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data_sizes"] == {"train": 10, "dev": 40, "test": 40}
    pool = load_splits(str(toy_data)).cap_train(10, 0).train
    drawn = json.loads((out / "icl.json").read_text())["demonstrations"]
    assert {d["text"] for d in drawn} <= {ex.text for ex in pool}


def test_an_icl_run_that_scores_dev_tunes_a_rare_class_threshold_on_it(tiny_lm, tmp_path, capsys) -> None:
    from conftest import write_rare_toy

    data = write_rare_toy(tmp_path / "toy")
    for dev, out in ((["--dev"], tmp_path / "with"), ([], tmp_path / "without")):
        assert main(icl_args(tiny_lm, data, out, "--select", "random", "--limit", "0", *dev)) == 0
    tuned = json.loads((tmp_path / "with" / "metrics.json").read_text())["test"]["tuned_threshold"]
    assert tuned["label"] == "positive" and tuned["dev_share"] == pytest.approx(12 / 52)
    rule = [("positive" if p[1] >= tuned["value"] else "negative") == json.loads(line)["gold"]
            for p, line in zip(saved_probs(tmp_path / "with"), (tmp_path / "with" / "test_predictions.jsonl").open())]
    assert tuned["test"]["threshold"]["accuracy"] == pytest.approx(np.mean(rule))
    assert "## Decision threshold" in (tmp_path / "with" / "report.md").read_text()
    assert "tuned_threshold" not in json.loads((tmp_path / "without" / "metrics.json").read_text())["test"]


def test_predict_and_eval_of_an_icl_run_warn_of_an_input_past_the_context(tiny_lm, toy_data, tmp_path, capsys) -> None:
    """The run warned that a query past the context was cut from the left; predict and eval of new inputs so long
    said nothing, though each was labelled from its end alone."""
    out = tmp_path / "run"
    assert main(icl_args(tiny_lm, toy_data, out, "--max-context", "40")) == 0
    src = tmp_path / "long.csv"
    src.write_text("text,label\n" + " ".join(["good film"] * 40) + ",positive\nbad,negative\n")
    capsys.readouterr()
    assert main(["predict", str(out), "--input", str(src), "--output", str(tmp_path / "p.jsonl")]) == 0
    said = "inputs: 1 queries exceed the context on their own and were cut from the left"
    assert said in capsys.readouterr().err
    assert main(["eval", str(out), "--data", str(src)]) == 0
    assert said in capsys.readouterr().err
