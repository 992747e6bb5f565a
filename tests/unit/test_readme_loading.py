"""The README's "Loading a run without ctxlearn" code, run as written on run folders of each kind: it gives
the probabilities ctxlearn's own loader gives."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ctxlearn.predict import open_predictor

README = Path(__file__).resolve().parents[2] / "README.md"
TEXT = "a gripping, funny film"  # the README's example text


def loading_code() -> str:
    section = README.read_text().split("### Loading a run without ctxlearn", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run_readme_code(run: Path, texts: list[str]) -> np.ndarray:
    """The README's code on ``run``, labelling ``texts`` in place of its one example text: (N, C) probabilities."""
    code = loading_code()
    assert 'run = Path("runs/x")' in code and f'["{TEXT}"]' in code
    scope: dict = {}
    exec(code.replace('run = Path("runs/x")', f"run = Path({str(run)!r})").replace(f'["{TEXT}"]', repr(texts)),
         scope)  # noqa: S102 (the README's own code)
    return scope["probs"].numpy()


def _train(tiny_bert: Path, toy_data: Path, out: Path, method: str) -> Path:
    from ctxlearn.config import TrainConfig
    from ctxlearn.train.run import run_training

    run_training(TrainConfig(data=str(toy_data), model=str(tiny_bert), method=method, out=str(out), bf16="off",
                             epochs=0 if method == "head" else 1))
    return out


def _mean_pooled_copy(tiny_bert: Path, to: Path) -> Path:
    """The tiny BERT as a sentence-transformers folder that pools by the mean (as minilm does)."""
    shutil.copytree(tiny_bert, to)
    (to / "1_Pooling").mkdir()
    (to / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    return to


@pytest.mark.parametrize("method, pooling", [("head", "cls"), ("head", "mean"), ("lora", "cls"), ("ia3", "mean"),
                                             ("full", "cls")])
def test_the_readme_code_gives_ctxlearns_probabilities(tiny_bert, toy_data, tmp_path, capsys, method, pooling) -> None:
    """The code pooled by the mean alone, as minilm does: a run on a model that pools by its first token
    (a local BERT, most Hub encoders) got other probabilities from it, without a word."""
    model = _mean_pooled_copy(tiny_bert, tmp_path / "mean-bert") if pooling == "mean" else tiny_bert
    run = _train(model, toy_data, tmp_path / "run", method)
    assert json.loads((run / "manifest.json").read_text())["model_source"]["pooling"] == pooling
    texts = [TEXT, " ".join(["good great film"] * 60)]  # 180 words: ctxlearn reads the run's first 128 tokens
    theirs = run_readme_code(run, texts)
    predictor = open_predictor(run)
    assert not predictor.bf16  # the README's code computes in fp32, as this run does
    ours = predictor.predict_texts(texts)
    labels = json.loads((run / "labels.json").read_text())
    np.testing.assert_allclose(theirs, [[row[f"p_{label}"] for label in labels] for row in ours], atol=1e-5)
    assert capsys.readouterr().out.startswith(str([row["label"] for row in ours]))  # the code prints the labels


@pytest.mark.parametrize("make", ["tagger", "adapter", "prompt", "windows", "int8"])
def test_the_readme_code_refuses_the_runs_it_would_get_wrong(tiny_bert, toy_data, tmp_path, make) -> None:
    """It ran on them without a word and gave other probabilities than ctxlearn: an adapter run without its
    adapters (2 of 8 labels changed), a windowed run truncated, an int8 export in fp32, a tagger's sentence."""
    run = shutil.copytree(_train(tiny_bert, toy_data, tmp_path / "head", "head"), tmp_path / make)
    manifest, config = json.loads((run / "manifest.json").read_text()), (run / "config.yaml").read_text()
    if make == "tagger":
        (run / "manifest.json").write_text(json.dumps({**manifest, "task": "tagging"}))
    elif make == "adapter":
        (run / "bottleneck").mkdir()
    elif make == "prompt":
        (run / "adapter").mkdir()
        (run / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": "PROMPT_TUNING"}))
    elif make == "windows":
        (run / "config.yaml").write_text(config.replace("long_inputs: truncate", "long_inputs: windows"))
    else:
        (run / "export.json").write_text("{}")
    with pytest.raises(SystemExit, match="load this run with ctxlearn.predict.open_predictor"):
        run_readme_code(run, [TEXT])
