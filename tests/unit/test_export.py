"""``ctxlearn export --int8`` on the tiny run: the report, the copy, loading it (predict, serve), refusals;
and that no run folder is ever loaded through pickle."""
from __future__ import annotations

import json
import pickle
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

from ctxlearn.artifact import load_classifier
from ctxlearn.cli import main
from ctxlearn.data.example import Example
from ctxlearn.export.quantize import quantize_int8
from ctxlearn.export.run import export_int8, format_report, summarize
from ctxlearn.predict import Predictor, open_predictor

TEXTS = [Example(t, "") for t in ("good great film", "awful sad plot", "the movie was fine and really nice", "bad")]


@pytest.fixture(scope="module")
def exported(tiny_run: Path, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("export") / "int8"
    return out, export_int8(tiny_run, out)


def test_report_states_accuracy_change_and_speedup(exported, tiny_run: Path) -> None:
    out, report = exported
    fp32, int8 = report["measured"]["fp32"], report["measured"]["int8"]
    assert fp32["n"] == int8["n"] == 40
    assert report["int8_vs_fp32"]["accuracy_change_points"] == round(100 * (int8["accuracy"] - fp32["accuracy"]), 2)
    assert report["int8_vs_fp32"]["speedup"] == round(int8["examples_per_s"] / fp32["examples_per_s"], 2)
    assert report["artifact_precision"] == "fp32" and report["int8_vs_artifact"] == report["int8_vs_fp32"]
    assert 0 <= int8["batch_sensitivity"]["share"] <= 1 and int8["batch_sensitivity"]["n"] == 40
    assert all(1 <= m["passes"] <= 3 for m in report["measured"].values())
    assert json.loads((out / "export.json").read_text()) == report


def test_a_run_from_one_file_is_measured_on_its_test_split_not_the_whole_file(tiny_bert: Path, tmp_path: Path,
                                                                                monkeypatch) -> None:
    """Most of a single data file is the run's training data: accuracy there would flatter int8 and fp32."""
    from conftest import write_toy

    from ctxlearn.config import TrainConfig
    from ctxlearn.export import run as export_run
    from ctxlearn.train.run import run_training

    toy = write_toy(tmp_path / "toy")
    one = tmp_path / "all.jsonl"
    one.write_text("".join((toy / f"{s}.jsonl").read_text() for s in ("train", "dev", "test")))
    run_training(TrainConfig(data=str(one), model=str(tiny_bert), method="head", out=str(tmp_path / "run"), bf16="off"))
    n_test = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["n"]
    quantized = []
    real = export_run.timed_eval
    monkeypatch.setattr(export_run, "timed_eval", lambda p, ex, src, metric: (
        quantized.append(any(isinstance(m, DynamicLinear) for m in p.model.modules())), real(p, ex, src, metric))[1])
    report = export_int8(tmp_path / "run", tmp_path / "int8")
    assert report["measured"]["fp32"]["n"] == report["measured"]["int8"]["n"] == n_test < len(one.read_text().splitlines())
    assert quantized == [False, True], "fp32 is timed before quantizing, int8 after"


def test_a_held_out_file_given_is_measured_whole_as_eval_scores_it(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """`export --data test.jsonl` measured a 10% share cut from the file (4 of its 40 rows), as if it were the
    run's own data to split; eval of the same file scores all 40."""
    held_out = tiny_run.parent / "toy" / "test.jsonl"
    report = export_int8(tiny_run, tmp_path / "int8", data=str(held_out))
    assert report["measured"]["fp32"]["n"] == report["measured"]["int8"]["n"] == 40
    assert f"predicting the 40 test examples of {held_out} in fp32" in capsys.readouterr().err


def test_the_copy_is_a_run_folder_marked_int8(exported, tiny_run: Path) -> None:
    out, _ = exported
    source, copy = (json.loads((d / "manifest.json").read_text()) for d in (tiny_run, out))
    assert "export" not in source, "the source is left as it was"
    assert copy["export"]["weights"] == "int8-dynamic" and copy["bf16"] is False
    assert {k: v for k, v in copy.items() if k not in {"export", "bf16"}} == {k: v for k, v in source.items() if k != "bf16"}
    assert (out / "head.safetensors").read_bytes() == (tiny_run / "head.safetensors").read_bytes()


def test_the_copys_report_opens_with_what_int8_scored(exported, tiny_run: Path) -> None:
    """The copy's report.md was the source's, word for word: its accuracy, the source's in fp32 or bf16, read
    as the int8 folder's own (sms-spam: 98.53, where int8 scores 98.32)."""
    out, report = exported
    text, source = (out / "report.md").read_text(), (tiny_run / "report.md").read_text()
    head, rest = text.split("\n---\n", 1)
    for name in ("confusion.png", "reliability.png", "test_predictions.jsonl"):  # the source's, in source/
        source = source.replace(f"]({name})", f"](source/{name})").replace(f"in {name}", f"in source/{name}")
    assert head.startswith(f"# ctxlearn int8 export of {tiny_run}\n") and rest.strip() == source.strip()
    int8 = report["measured"]["int8"]
    assert (f"| int8 (this folder) | {100 * int8['accuracy']:.2f}% | {100 * int8['macro_f1']:.2f}% | "
            f"{int8['examples_per_s']:,.1f} |") in head
    assert f"| fp32 | {100 * report['measured']['fp32']['accuracy']:.2f}% |" in head
    assert "Below is the source run's report, scored in fp32, not int8" in head


def test_the_sources_predictions_and_plots_are_kept_apart_from_the_copys(exported, tiny_run: Path) -> None:
    """test_predictions.jsonl, confusion.txt and the plots at the top of the int8 folder were the source's, in its
    own precision, beside a metrics.json of what int8 scored: the folder contradicted itself."""
    out, _ = exported
    names = ("test_predictions.jsonl", "confusion.txt", "confusion.png", "reliability.png")
    assert not any((out / name).exists() for name in names)
    assert all((out / "source" / name).read_bytes() == (tiny_run / name).read_bytes() for name in names)
    shown = re.findall(r"!\[[^]]*\]\(([^)]+)\)", (out / "report.md").read_text())
    assert shown and all((out / link).is_file() for link in shown)  # every plot the report shows is there


def test_the_copys_metrics_json_holds_what_int8_scored(exported, tiny_run: Path) -> None:
    """The copy's metrics.json was the source's: a script reading its test accuracy got the source's fp32 or
    bf16 score for the int8 folder."""
    out, report = exported
    copy, source = (json.loads((d / "metrics.json").read_text()) for d in (out, tiny_run))
    examples, scored = open_predictor(out).labelled(report["data"])
    evaluated = json.loads(json.dumps(open_predictor(out).evaluate_examples(examples, scored)))
    assert copy["test"] == {**evaluated, "scored": scored} and scored.endswith("test.jsonl")
    assert copy["test"]["accuracy"] == report["measured"]["int8"]["accuracy"]
    assert copy["dev"] == source["dev"] and copy["precision"] == {"dev": "fp32", "test": "int8"}


def test_loaders_quantize_the_copy_as_export_measured_it(exported, tiny_run: Path) -> None:
    out, _ = exported
    model = load_classifier(out)[0]
    assert any(isinstance(m, DynamicLinear) for m in model.backbone.modules())
    assert isinstance(model.head, torch.nn.Linear) and not isinstance(model.head, DynamicLinear), "the head stays fp32"
    by_hand = Predictor(tiny_run)
    quantize_int8(by_hand.model)
    np.testing.assert_array_equal(open_predictor(out).predict_proba(TEXTS), by_hand.predict_proba(TEXTS))


def test_bottleneck_adapters_run_in_fp32_on_the_int8_layers_they_follow() -> None:
    """Quantizing swapped each adapted layer for a new one without its adapter child: every `adapter` export
    failed with "'Linear' object has no attribute 'adapter'"."""
    from transformers import BertConfig, BertModel

    from ctxlearn.methods import METHODS
    from ctxlearn.methods.adapter import AdapterOptions, Bottleneck, adapted
    from ctxlearn.models.classifier import EncoderClassifier

    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    model = METHODS.get("adapter").prepare(EncoderClassifier(BertModel(config, add_pooling_layer=False), 2),
                                           AdapterOptions(size=8)).eval()
    with torch.no_grad():
        for adapter in adapted(model.backbone).values():
            for linear in (adapter.down, adapter.up):  # far from the identity they start as, so losing one shows
                linear.weight.normal_(0, 0.5)
    batch = {"input_ids": torch.randint(5, 40, (4, 9)), "attention_mask": torch.ones(4, 9, dtype=torch.long)}
    with torch.no_grad():
        fp32 = model(**batch).logits
        skipped = {name: adapter for name, adapter in adapted(model.backbone).items()}
        for name in skipped:
            model.backbone.get_submodule(name).adapter = torch.nn.Identity()
        without = model(**batch).logits
        for name, adapter in skipped.items():
            model.backbone.get_submodule(name).adapter = adapter
        quantize_int8(model)
        int8 = model(**batch).logits
    kept = adapted(model.backbone)
    assert len(kept) == 4 and all(isinstance(model.backbone.get_submodule(n), DynamicLinear) for n in kept)
    assert all(isinstance(m, Bottleneck) and isinstance(m.up, torch.nn.Linear) for m in kept.values()), "kept fp32"
    assert (int8 - fp32).abs().max() < 0.1 * (without - fp32).abs().max()


def test_serve_loads_the_copy(exported) -> None:
    from ctxlearn.serve.engine import open_engine

    out, _ = exported
    engine = open_engine(out)
    outputs = engine.run([ex.text for ex in TEXTS])
    probs = open_predictor(out).predict_proba(TEXTS)
    assert any(isinstance(m, DynamicLinear) for m in engine.predictor.model.modules())
    # serve batches texts of like length together, and int8 scales each batch's activations by its own range:
    # on an Intel Xeon a probability of 9.5895e-07 came back as 9.5872e-07, outside approx's relative 1e-6
    assert [o["probabilities"]["positive"] for o in outputs] == pytest.approx(probs[:, 1].tolist(), abs=1e-6)


def test_cli_prints_the_report_and_eval_reads_the_copy(tiny_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "int8"
    assert main(["export", str(tiny_run), "--int8", "--out", str(out)]) == 0
    printed, progress = capsys.readouterr()
    assert "int8 vs fp32: accuracy" in printed and "batch size 1 and 32" in printed
    # a large test split is predicted several times over: each precision's line comes as it is measured
    assert re.search(r"export: predicting the 40 test examples of .*toy/test.jsonl in fp32 and int8.*\n"
                     r".*export: fp32 \d+\.\d\d% accuracy, [\d,.]+ examples/s\n.*export: int8 ", progress)
    assert re.search(r"int8 vs fp32: accuracy [+-]\d+\.\d\d points, \d+\.\d\dx (faster|slower)", printed)
    assert main(["eval", str(out), "--data", str(tiny_run.parent / "toy"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_n"] == 40


@pytest.fixture(scope="module")
def tagger(tiny_bert: Path, tmp_path_factory) -> Path:
    from conftest import write_toy_conll

    from ctxlearn.config import TrainConfig
    from ctxlearn.train.run import run_training

    root = tmp_path_factory.mktemp("tagger")
    run_training(TrainConfig(data=str(write_toy_conll(root / "toy")), model=str(tiny_bert), method="full",
                             out=str(root / "run"), bf16="off", epochs=2, lr=3e-3))
    return root / "run"


def test_a_tagger_exports_measured_by_entity_f1_and_word_tags(tagger: Path, tmp_path: Path, capsys) -> None:
    """export refused taggers ("takes trained classifiers"), though loading quantizes any run's backbone."""
    from ctxlearn.data.example import TaggedSentence
    from ctxlearn.predict_tagging import TaggingPredictor

    out = tmp_path / "int8"
    assert main(["export", str(tagger), "--int8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "export.json").read_text())
    fp32, int8 = report["measured"]["fp32"], report["measured"]["int8"]
    test = TaggingPredictor(tagger).cut(str(tagger.parent / "toy")).test
    assert report["metric"] == "f1" and fp32["n"] == int8["n"] == len(test) == 40
    assert report["int8_vs_fp32"]["f1_change_points"] == round(100 * (int8["f1"] - fp32["f1"]), 2)
    n_words = sum(len(t.tokens) for t in test)
    assert int8["batch_sensitivity"]["of"] == "words" and int8["batch_sensitivity"]["n"] == n_words
    assert re.search(r"int8 vs fp32: entity F1 [+-]\d+\.\d\d points", printed) and "test words" in printed

    words = [TaggedSentence(tuple(w.split()), (), (0,) * len(w.split())) for w in ("a really nice film", "very sad")]
    copy, by_hand = open_predictor(out), TaggingPredictor(tagger)
    quantize_int8(by_hand.model)
    assert any(isinstance(m, DynamicLinear) for m in copy.model.backbone.modules())
    assert copy.predict(words).tags == by_hand.predict(words).tags
    assert main(["eval", str(out), "--data", str(tagger.parent / "toy"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_f1"] == pytest.approx(int8["f1"])
    held_out = tagger.parent / "toy" / "test.conll"  # a file given: measured whole, as eval scores it
    whole = export_int8(tagger, tmp_path / "int8-held-out", data=str(held_out))
    assert whole["measured"]["int8"]["n"] == len(test) and whole["data"] == str(held_out)


def _icl_copy(run: Path, dst: Path) -> Path:
    shutil.copytree(run, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    (dst / "manifest.json").write_text(json.dumps({**manifest, "method": "icl"}))
    return dst


@pytest.mark.parametrize("case, args, message", [
    ("no --int8", lambda run, ex, tmp: [str(run), "--out", str(tmp / "o")], "--int8"),
    ("out inside the source", lambda run, ex, tmp: [str(run), "--int8", "--out", str(run / "int8")], "outside the source"),
    ("out is the source", lambda run, ex, tmp: [str(run), "--int8", "--out", str(run)], "outside the source"),
    ("out holds the source", lambda run, ex, tmp: [str(run), "--int8", "--out", str(run.parent)], "which this command reads"),
    ("already int8", lambda run, ex, tmp: [str(ex), "--int8", "--out", str(tmp / "o")], "already an int8 export"),
    ("icl run", lambda run, ex, tmp: [str(_icl_copy(run, tmp / "icl")), "--int8", "--out", str(tmp / "o")], "trained classifiers"),
    ("not a run", lambda run, ex, tmp: [str(tmp), "--int8", "--out", str(tmp / "o")], "no manifest.json"),
    ("out is another run", lambda run, ex, tmp: [str(run), "--int8", "--out", str(_icl_copy(run, tmp / "other"))],
     "holds a trained run, and writing an int8 export there would replace it whole; give a new folder, e.g. "),
])
def test_refusals_say_what_would_be_right(tiny_run, exported, tmp_path, capsys, case, args, message) -> None:
    assert main(["export", *args(tiny_run, exported[0], tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tiny_run / "int8").exists()
    assert (tiny_run / "manifest.json").is_file(), "the source run is untouched"
    assert not (tmp_path / "other").exists() or (tmp_path / "other" / "head.safetensors").is_file()


def test_loading_never_unpickles(tiny_run: Path, exported, monkeypatch) -> None:
    """Run folders hold safetensors, JSON and YAML only, and loading one never reaches pickle or torch.load."""
    from ctxlearn.serve.engine import open_engine

    def refuse(*_args, **_kwargs):
        raise AssertionError("pickle or torch.load was used")

    unpickled: list[str] = []
    watching = True
    sys.addaudithook(lambda event, args: watching and event == "pickle.find_class" and unpickled.append(str(args)))
    for target, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(target, name, refuse)
    try:
        for folder in (tiny_run, exported[0]):
            open_predictor(folder).predict_proba(TEXTS)
            open_engine(folder).run(["good film"])
            assert not [p for p in folder.rglob("*") if p.suffix in {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"}]
    finally:
        watching = False
    assert unpickled == []


@pytest.mark.parametrize("int8_per_s, says", [(200.0, "1.60x faster"), (62.5, "2.00x slower")])
def test_report_says_slower_and_warns_when_int8_loses_to_the_run(int8_per_s: float, says: str) -> None:
    """A long-text pair run measured int8 at 77 examples/s against bf16's 122: '0.63x faster' hid that."""
    def row(per_s: float) -> dict:
        return {"accuracy": 0.5, "macro_f1": 0.5, "examples_per_s": per_s,
                "batch_sensitivity": {"share": 0.0, "n": 4, "of": "examples"}}

    rows = {"fp32": row(50.0), "bf16": row(125.0), "int8": row(int8_per_s)}
    text = format_report(summarize(Path("runs/x"), Path("runs/x-int8"), "data", rows, "accuracy"))
    assert f"int8 vs bf16: accuracy +0.00 points, {says}" in text
    assert ("int8 is slower than the run in its own precision (bf16); serve and predict with runs/x itself" in text) \
        == says.endswith("slower")


def test_the_report_counts_its_threads_in_words(exported) -> None:
    _, report = exported
    text = format_report({**report, "torch_threads": 1})
    assert ", 1 thread)" in text.splitlines()[0] and "1 threads" not in text
    assert ", 2 threads)" in format_report({**report, "torch_threads": 2}).splitlines()[0]
