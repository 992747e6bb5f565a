"""`--model scratch:DIR`: resolved, loaded and adapted like any other backbone by train, eval and icl."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctxlearn.cli import main
from ctxlearn.errors import ConfigError, ModelError
from ctxlearn.models import resolve_model
from ctxlearn.scratch.pretrain import run_pretrain
from conftest import write_toy  # tests/conftest.py
from scratch_fixtures import tiny_cfg, write_corpus


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> dict[str, Path]:
    """A tiny MLM encoder and a tiny CLM decoder, pretrained for a few steps on the toy grammar."""
    root = tmp_path_factory.mktemp("scratch-models")
    corpus = write_corpus(root / "corpus.txt")
    return {obj: Path(run_pretrain(tiny_cfg(corpus, root / obj, objective=obj, steps=5, layers=2))["out"]) for obj in ("mlm", "clm")}


def test_scratch_kind_resolves_kind_and_pooling(pretrained) -> None:
    enc, dec = resolve_model(f"scratch:{pretrained['mlm']}"), resolve_model(f"scratch:{pretrained['clm']}")
    assert (enc.kind, enc.pooling) == ("encoder", "mean") and dec.kind == "causal-lm"
    assert resolve_model(str(pretrained["mlm"])).kind == "encoder"  # a plain folder path works too


def test_scratch_kind_rejects_other_folders(tiny_bert) -> None:
    with pytest.raises(ModelError, match="not a scratch model folder"):
        resolve_model(f"scratch:{tiny_bert}")


def test_an_encoder_decoder_folder_is_neither_adapted_nor_prompted(tmp_path, capsys) -> None:
    """train refuses it rather than quietly keep its encoder; icl refuses it as it does an encoder."""
    from ctxlearn.icl.run import load_lm
    from ctxlearn.scratch import ScratchForSeq2SeqLM
    from scratch_fixtures import tiny

    ScratchForSeq2SeqLM(tiny("encoder-decoder")).save_pretrained(tmp_path / "s2s")
    assert resolve_model(f"scratch:{tmp_path / 's2s'}").kind == "seq2seq"
    data = write_toy(tmp_path / "toy", n_train=24, n_eval=8)
    assert main(["train", "--data", str(data), "--model", f"scratch:{tmp_path / 's2s'}", "--method", "head",
                 "--out", str(tmp_path / "run")]) == 2
    assert "is an encoder-decoder; `train` adapts encoders" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="is an encoder-decoder; in-context learning needs a causal LM"):
        load_lm(resolve_model(f"scratch:{tmp_path / 's2s'}"))


def test_train_refuses_a_max_length_past_a_learned_position_table(tmp_path, capsys) -> None:
    corpus = write_corpus(tmp_path / "corpus.txt")
    learned = run_pretrain(tiny_cfg(corpus, tmp_path / "learned", objective="mlm", positions="learned", steps=0))["out"]
    data = write_toy(tmp_path / "toy", n_train=24, n_eval=8)
    assert main(["train", "--data", str(data), "--model", f"scratch:{learned}", "--method", "head", "--max-length", "32",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--max-length 32 is longer than the position table of scratch:" in err
    assert "(16 positions); use --max-length 16 or less" in err


METHODS = [  # (method, flags): every method of ctxlearn; ia3 and adapter default to BERT's module names
    ("full", []), ("lora", []), ("topk", []), ("head", []), ("prefix", []), ("prompt", []), ("adalora", []),
    ("ia3", ["--ia3-targets", r".*\.(key|value|mlp\.down)", "--ia3-feedforward", r".*\.mlp\.down"]),
    ("adapter", ["--adapter-targets", r".*\.layers\.\d+\.(attn\.out|mlp\.down)"]),
]


@pytest.mark.parametrize("method, flags", METHODS)
def test_train_eval_adapts_a_scratch_encoder(pretrained, tmp_path, method, flags, capsys) -> None:
    data = write_toy(tmp_path / "toy", n_train=48, n_eval=16)
    out = tmp_path / f"run-{method}"
    assert main(["train", "--data", str(data), "--model", f"scratch:{pretrained['mlm']}", "--method", method,
                 "--epochs", "1", "--out", str(out), "--json", *flags]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= result["test_accuracy"] <= 1 and result["model"].startswith("scratch:")
    assert main(["eval", str(out), "--data", str(data), "--json"]) == 0  # the run folder reloads the scratch backbone
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["test_accuracy"] == pytest.approx(result["test_accuracy"])


def test_icl_runs_on_a_scratch_decoder_and_refuses_an_encoder(pretrained, tmp_path, capsys) -> None:
    data = write_toy(tmp_path / "toy", n_train=24, n_eval=8)
    assert main(["icl", "--data", str(data), "--model", f"scratch:{pretrained['clm']}", "--prompt", "sst2",
                 "--shots", "1", "--select", "random", "--out", str(tmp_path / "icl"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["model"].startswith("scratch:")
    from ctxlearn.icl.run import load_lm

    with pytest.raises(ConfigError, match="is an encoder"):
        load_lm(resolve_model(f"scratch:{pretrained['mlm']}"))


@pytest.mark.parametrize("metrics, words", [
    ({"steps": 40, "val_ppl": 2345.2, "unigram_ppl": 682.7},
     "its pretraining (40 steps) does not beat its baseline (validation perplexity 2345.2, against the unigram "
     "baseline's 682.7), so this run starts from little more than random weights"),
    ({"steps": 9, "val_top1": 0.1, "chance_top1": 0.125}, "(validation top-1 0.100, against chance's 0.125)"),
    ({"steps": 40, "val_ppl": 50.0, "unigram_ppl": 682.7}, None),  # it learnt something
    ({"steps": 0, "val_ppl": 2345.2, "unigram_ppl": 682.7}, None),  # random weights, asked for as a baseline
    ({"steps": 40}, None),  # says nothing of its baseline
])
def test_training_from_a_scratch_model_that_lost_to_its_baseline_warns(pretrained, tmp_path, metrics, words,
                                                                       capsys) -> None:
    """A scratch encoder pretrained too briefly was fine-tuned without a word: the run's scores read as those
    of a pretrained model, where its pretraining report said it had learnt less than token frequencies."""
    model = _reported(pretrained["mlm"], tmp_path / "model", metrics)
    data = write_toy(tmp_path / "toy", n_train=24, n_eval=8)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--model", f"scratch:{model}", "--method", "head", "--out", str(out),
                 "--json"]) == 0
    given = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["warnings"]
    weak = [w for w in given if w.startswith(f"scratch:{model}: ")]
    assert len(weak) == (words is not None) and all(words in w for w in weak)
    assert set(weak) <= set(json.loads((out / "manifest.json").read_text())["warnings"])  # kept with the scores


def test_prompting_a_scratch_decoder_that_lost_to_its_baseline_warns(pretrained, tmp_path, capsys) -> None:
    model = _reported(pretrained["clm"], tmp_path / "model", {"steps": 5, "val_ppl": 90.0, "unigram_ppl": 30.0})
    data = write_toy(tmp_path / "toy", n_train=24, n_eval=8)
    assert main(["icl", "--data", str(data), "--model", f"scratch:{model}", "--prompt", "sst2", "--shots", "1",
                 "--select", "random", "--out", str(tmp_path / "icl"), "--json"]) == 0
    given = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["warnings"]
    assert [w for w in given if w.startswith(f"scratch:{model}: its pretraining (5 steps) does not beat its "
                                             "baseline (validation perplexity 90.0")]


def _reported(model: Path, copy: Path, metrics: dict) -> Path:
    """A copy of the scratch model folder ``model`` whose pretraining reported ``metrics``."""
    import shutil

    shutil.copytree(model, copy)
    (copy / "metrics.json").write_text(json.dumps(metrics))
    return copy
