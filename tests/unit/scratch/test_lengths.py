"""`ctxlearn lengths` at toy scale: models differ only in position encoding, all lengths see the same
tokens, and the table, JSON and plot are written."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig

from ctxlearn.cli import main
from ctxlearn.errors import ConfigError
from ctxlearn.scratch.lengths import LengthsConfig, degradation, run_lengths
from ctxlearn.scratch.objectives import stream_nll
from scratch_fixtures import corpus  # noqa: F401  (fixture)

TINY = ["--train-len", "8", "--factors", "1,2,4", "--layers", "1", "--d-model", "32", "--heads", "2",
        "--vocab-size", "300", "--batch-size", "8", "--steps", "30", "--eval-tokens", "512"]


def test_lengths_cli_trains_scores_and_reports(corpus, tmp_path, capsys) -> None:
    out = tmp_path / "study"
    assert main(["lengths", "--corpus", str(corpus), "--positions", "alibi,learned", "--out", str(out), *TINY]) == 0
    assert "| encoding | 8 (1x) | 16 (2x) | 32 (4x) |" in capsys.readouterr().out
    result = json.loads((out / "lengths.json").read_text())
    assert [r["positions"] for r in result["rows"]] == ["alibi", "learned"]
    assert result["eval_tokens"] % 32 == 0 and all(len(r["ppl"]) == 3 for r in result["rows"])
    configs = [AutoConfig.from_pretrained(out / "models" / p) for p in ("alibi", "learned")]
    assert {c.max_len for c in configs} == {32}  # learned tables reach 4x; nothing else differs but positions
    assert configs[0].to_diff_dict().keys() == configs[1].to_diff_dict().keys()
    assert (out / "lengths.png").stat().st_size > 1000 and "lengths.png" in (out / "lengths.md").read_text()
    stamp = (out / "models" / "alibi" / "model.safetensors").stat().st_mtime
    assert main(["lengths", "--corpus", str(corpus), "--positions", "alibi", "--out", str(out), *TINY]) == 0
    assert (out / "models" / "alibi" / "model.safetensors").stat().st_mtime == stamp  # trained models are reused


def test_models_option_scores_given_folders(corpus, tmp_path) -> None:
    first = run_lengths(LengthsConfig(corpus=[str(corpus)], out=str(tmp_path / "a"), positions="rope", train_len=8,
                                      factors="1,2", layers=1, d_model=32, heads=2, vocab_size=300, batch_size=8,
                                      steps=10, eval_tokens=256))
    again = run_lengths(LengthsConfig(corpus=[str(corpus)], out=str(tmp_path / "b"), models=first["rows"][0]["model"],
                                      train_len=8, factors="1,2", eval_tokens=256))
    assert again["rows"][0]["ppl"] == first["rows"][0]["ppl"]


def test_stream_nll_counts_every_predicted_token_once() -> None:
    class Uniform(torch.nn.Module):  # log-likelihood of every token is -log V
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, use_cache=False):
            return type("Out", (), {"logits": torch.zeros(*input_ids.shape, 10)})()

    total, count = stream_nll(Uniform(), torch.arange(20) % 10, length=6, batch_size=2)
    assert count == 3 * 5 and total == pytest.approx(15 * torch.log(torch.tensor(10.0)).item())


def test_degradation_and_bad_settings() -> None:
    assert degradation({"ppl": {"8": 10.0, "16": 15.0}}, [8, 16]) == 1.5
    with pytest.raises(ConfigError, match="unknown encoding 'xpos'"):
        LengthsConfig(positions="rope,xpos")
    with pytest.raises(ConfigError, match="factors"):
        LengthsConfig(factors="1,two")
