"""`ctxlearn lengths` at toy scale: models differ only in position encoding, all lengths see the same
tokens, and the table, JSON and plot are written."""
from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from ctxlearn.cli import main
from ctxlearn.errors import ConfigError
from ctxlearn.scratch.lengths import LengthsConfig, degradation, run_lengths, verdict, write_outputs
from ctxlearn.scratch.corpus import token_stream
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


def small(corpus, out, **kw) -> LengthsConfig:
    base = dict(corpus=[str(corpus)], out=str(out), positions="rope", train_len=8, factors="1,2", layers=1, d_model=32,
                heads=2, vocab_size=300, batch_size=8, steps=10, eval_tokens=256)
    return LengthsConfig(**{**base, **kw})


def test_validation_text_too_short_for_the_longest_window_is_refused_before_training(corpus, tmp_path) -> None:
    # the validation part (5% of 600 short sentences) is short of one window of 8 x 64 = 512 tokens
    with pytest.raises(ConfigError, match="shorter than one window of 512 tokens"):
        run_lengths(small(corpus, tmp_path / "study", factors="1,64"))
    assert not (tmp_path / "study" / "models").exists()  # no decoder was trained first


def test_models_option_scores_given_folders_at_their_own_length(corpus, tmp_path) -> None:
    first = run_lengths(small(corpus, tmp_path / "a"))
    model = first["rows"][0]["model"]
    again = run_lengths(LengthsConfig(corpus=[str(corpus)], out=str(tmp_path / "b"), models=model, factors="1,2",
                                      eval_tokens=256))  # --train-len left at its default, 64: L comes from the model
    assert again["train_len"] == 8 and again["lengths"] == [8, 16] and again["config"]["train_len"] == 8
    assert again["rows"][0]["ppl"] == first["rows"][0]["ppl"]
    other = tmp_path / "other"
    shutil.copytree(model, other)
    (other / "pretrain.yaml").write_text((other / "pretrain.yaml").read_text().replace("seq_len: 8", "seq_len: 16"))
    with pytest.raises(ConfigError, match="trained at different lengths.*seq_len 8.*seq_len 16"):
        run_lengths(LengthsConfig(corpus=[str(corpus)], out=str(tmp_path / "c"), models=f"{model},{other}"))


def test_models_are_scored_on_what_they_held_out_of_their_own_corpus(corpus, tmp_path) -> None:
    """Scored on 5% held out where a model held out 2.5%, half the text was text it trained on (perplexity 18,
    its own validation 65); with --corpus left out, on builtin:movie-dialog, a corpus it never saw."""
    from ctxlearn.scratch.corpus import read_corpus, split_documents
    from ctxlearn.scratch.pretrain import PretrainConfig, run_pretrain

    model = tmp_path / "clm"
    run_pretrain(PretrainConfig(corpus=[str(corpus)], out=str(model), layers=1, d_model=32, heads=2, seq_len=8,
                                batch_size=8, steps=10, vocab_size=300, val_fraction=0.1, bf16="off"))
    scored = run_lengths(LengthsConfig(out=str(tmp_path / "a"), models=str(model), factors="1,2", eval_tokens=64))
    assert scored["config"]["corpus"] == [str(corpus)]
    held_out = split_documents(read_corpus([str(corpus)]), 0.1)[1]
    tokenizer = AutoTokenizer.from_pretrained(model)
    stream = token_stream(held_out, tokenizer, tokenizer.eos_token_id)[:scored["eval_tokens"]]
    total, count = stream_nll(AutoModelForCausalLM.from_pretrained(model).eval(), stream, 8, 32)
    assert scored["rows"][0]["ppl"]["8"] == pytest.approx(math.exp(total / count), rel=1e-6)
    other = tmp_path / "other.txt"
    other.write_text(corpus.read_text())
    with pytest.raises(ConfigError, match=rf"^--corpus {other} \(--text-field text\): the --models were pretrained on "
                                          rf"{corpus} \(--text-field text\), .* leave --corpus out, or give theirs$"):
        run_lengths(LengthsConfig(corpus=[str(other)], out=str(tmp_path / "b"), models=str(model)))
    encoder = tmp_path / "mlm"
    run_pretrain(PretrainConfig(corpus=[str(corpus)], out=str(encoder), objective="mlm", layers=1, d_model=32, heads=2,
                                seq_len=8, batch_size=8, steps=0, vocab_size=300, bf16="off"))
    with pytest.raises(ConfigError, match=r"is an encoder \(pretrained with mlm\), and the study scores decoders"):
        run_lengths(LengthsConfig(out=str(tmp_path / "c"), models=str(encoder)))


def test_a_study_writes_into_no_folder_of_another_kind(corpus, tmp_path) -> None:
    """lengths.* written into a pretrained model's folder made `pretrain --out` that folder refuse it, as holding
    files pretrain did not write."""
    from ctxlearn.scratch.pretrain import PretrainConfig, run_pretrain

    model = tmp_path / "clm"
    run_pretrain(PretrainConfig(corpus=[str(corpus)], out=str(model), layers=1, d_model=32, heads=2, seq_len=8,
                                batch_size=8, steps=0, vocab_size=300, bf16="off"))
    with pytest.raises(ConfigError, match=rf"^--out {model} holds a pretrained model, and a length study writes"):
        run_lengths(LengthsConfig(out=str(model), models=str(model)))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"holds todo.txt, .* e.g. .*notes-lengths$"):
        run_lengths(small(corpus, tmp_path / "notes"))
    assert not list(model.glob("lengths.*")), "the model's folder is left as it was"


def test_a_rerun_with_other_settings_refuses_the_old_models(corpus, tmp_path) -> None:
    """Models and the tokenizer in --out are reused only when made with the settings asked for now."""
    tmp_path = tmp_path / "study"  # beside the corpus
    run_lengths(small(corpus, tmp_path))
    for change, message in [(dict(train_len=16), "seq_len is 8, but this run asks for 16"),
                            (dict(steps=20), "steps is 10, but this run asks for 20"),
                            (dict(layers=2), "layers is 1, but this run asks for 2"),
                            (dict(vocab_size=400), "trained with vocab_size 300, but this run asks for 400")]:
        with pytest.raises(ConfigError, match=message):
            run_lengths(small(corpus, tmp_path, **change))
    assert run_lengths(small(corpus, tmp_path, factors="1,2,4"))["lengths"] == [8, 16, 32]  # rope has no table to outgrow
    record, yaml = tmp_path / "tokenizer" / "study.json", tmp_path / "models" / "rope" / "pretrain.yaml"
    record.write_text(json.dumps({k: v for k, v in json.loads(record.read_text()).items() if k != "text_field"}))
    yaml.write_text("".join(line for line in yaml.read_text().splitlines(True) if not line.startswith("text_field:")))
    assert run_lengths(small(corpus, tmp_path))["lengths"] == [8, 16]  # records from before text_field: made with text
    with pytest.raises(ConfigError, match="trained with text_field 'text', but this run asks for 'body'"):
        run_lengths(small(corpus, tmp_path, text_field="body"))
    run_lengths(small(corpus, tmp_path, positions="learned"))
    with pytest.raises(ConfigError, match="max_len is 16, but this run asks for 32"):  # a learned one does
        run_lengths(small(corpus, tmp_path, positions="learned", factors="1,2,4"))


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
    with pytest.raises(ConfigError, match=r"^train_len must be >= 8, not 0$"):  # a ZeroDivisionError
        LengthsConfig(train_len=0)


def _study(rope: float, alibi: float) -> dict:
    """A lengths result at 8 and 32 tokens: rope degrades 1.5x, alibi 2x, from the given perplexities."""
    rows = [{"positions": "rope", "ppl": {"8": rope, "32": 1.5 * rope}},
            {"positions": "alibi", "ppl": {"8": alibi, "32": 2.0 * alibi}}]
    return {"train_len": 8, "lengths": [8, 32], "eval_tokens": 64, "unigram_ppl": 100.0, "rows": rows}


def test_a_model_no_better_than_token_frequencies_is_not_ranked(tmp_path, capsys) -> None:
    """Models trained too briefly to beat the unigram baseline got a 'least degradation' winner all the same:
    a flat curve of a model that ignores positions read as the best extrapolation."""
    assert verdict(_study(50.0, 60.0)) == "Least degradation from 8 to 32 tokens: **rope**."
    assert verdict(_study(150.0, 60.0)).startswith("Least degradation from 8 to 32 tokens: **alibi**. Not ranked: "
                                                   "rope, no better than the unigram baseline")
    write_outputs(tmp_path, _study(150.0, 160.0))
    assert "No model beats the unigram baseline at the training length" in (tmp_path / "lengths.md").read_text()
    assert "ctxlearn: warning: No model beats the unigram baseline" in capsys.readouterr().err


def test_a_mistyped_or_repeated_encoding_is_refused_naming_it() -> None:
    """rope,rope trained one decoder and scored it twice, as two rows of the table."""
    with pytest.raises(ConfigError, match=r"encoding 'RoPE' \(did you mean 'rope'\?\); choose from sinusoidal,"):
        LengthsConfig(positions="RoPE,alibi")
    with pytest.raises(ConfigError, match="--positions: rope listed more than once; list each encoding once"):
        LengthsConfig(positions="rope,alibi,rope")
