"""`ctxlearn pretrain` and `ctxlearn tokenizer train` on a toy corpus: losses fall, runs resume exactly,
step 0 gives the random-init baseline, and the folders load with the Auto classes."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

import ctxlearn.scratch.pretrain as pretrain
from ctxlearn.cli import main
from ctxlearn.config import load_yaml
from ctxlearn.errors import ConfigError
from ctxlearn.scratch import ScratchForMaskedLM
from ctxlearn.scratch.objectives import info_nce, unigram_ppl
from ctxlearn.scratch.pretrain import run_pretrain
from scratch_fixtures import corpus, tiny_cfg, write_corpus  # noqa: F401  (corpus is a fixture)

TINY = ["--layers", "1", "--d-model", "32", "--heads", "2", "--seq-len", "16", "--batch-size", "8",
        "--val-tokens", "1024", "--lr", "1e-2", "--vocab-size", "300", "--bf16", "off"]


def train_losses(out) -> list[float]:
    return [row["loss"] for row in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if "loss" in row]


@pytest.mark.parametrize("objective", ["clm", "mlm", "contrastive"])
def test_pretrain_cli_runs_and_the_loss_falls(corpus, tmp_path, objective, capsys) -> None:
    out = tmp_path / objective
    assert main(["pretrain", "--corpus", str(corpus), "--objective", objective, "--steps", "100", "--out", str(out),
                 "--json", *TINY]) == 0
    result = json.loads(capsys.readouterr().out)
    losses = train_losses(out)
    assert len(losses) == 10 and losses[-1] < 0.8 * losses[0], losses
    if objective == "contrastive":
        assert result["val_top1"] > result["chance_top1"]
        assert result["val_loss"] < 0.9 * result["untrained_val_loss"]
        assert type(AutoModel.from_pretrained(out)).__name__ == "ScratchModel"
    else:  # a toy grammar: 100 steps already beat token frequencies
        assert result["val_ppl"] < result["unigram_ppl"]
        assert json.loads((out / "config.json").read_text())["architectures"][0].endswith(
            "ForCausalLM" if objective == "clm" else "ForMaskedLM")
    assert "below the untrained model's." in (out / "report.md").read_text() if objective == "contrastive" else \
        "lower than the unigram baseline's." in (out / "report.md").read_text()
    assert not (tmp_path / f"{objective}.partial").exists()


def crash_at(monkeypatch, step: int) -> None:
    """Make training stop with KeyboardInterrupt (as Ctrl-C does) when it reaches ``step``."""
    real_step = pretrain.train_step

    def step_or_crash(model, objective, opt, cfg, state, *args):
        if state.step == step:
            raise KeyboardInterrupt
        return real_step(model, objective, opt, cfg, state, *args)

    monkeypatch.setattr(pretrain, "train_step", step_or_crash)


def test_resumed_run_ends_where_an_unbroken_one_does(corpus, tmp_path, monkeypatch) -> None:
    run_pretrain(tiny_cfg(corpus, tmp_path / "unbroken", objective="mlm"))
    with monkeypatch.context() as patch:
        crash_at(patch, 6)
        with pytest.raises(KeyboardInterrupt):
            run_pretrain(tiny_cfg(corpus, tmp_path / "broken", objective="mlm"))
    assert torch.load(tmp_path / "broken.partial" / "checkpoint.pt", weights_only=False)["progress"]["step"] == 4
    with pytest.raises(ConfigError, match="broken.partial holds an interrupted run, saved at checkpoint.pt"):
        run_pretrain(tiny_cfg(corpus, tmp_path / "broken", objective="mlm"))  # forgot --resume: nothing is deleted
    run_pretrain(tiny_cfg(corpus, tmp_path / "broken", objective="mlm", resume=True))
    a = AutoModel.from_pretrained(tmp_path / "unbroken").state_dict()
    b = AutoModel.from_pretrained(tmp_path / "broken").state_dict()
    for name in a:
        torch.testing.assert_close(b[name], a[name], atol=1e-6, rtol=0, msg=name)


@pytest.mark.usefixtures("terminal_signals")
def test_a_signal_saves_the_step_it_came_in_and_resume_ends_as_an_unbroken_run(corpus, tmp_path, monkeypatch) -> None:
    """Killed before, a run lost every step since its last checkpoint (250 by default)."""
    import os
    import signal

    from ctxlearn.train.stop import Stopped

    run_pretrain(tiny_cfg(corpus, tmp_path / "unbroken", objective="clm"))
    real_step = pretrain.train_step

    def step_then_sigterm(model, objective, opt, cfg, state, *args):
        loss = real_step(model, objective, opt, cfg, state, *args)
        if state.step == 5:  # the sixth step; checkpoints come every 4
            os.kill(os.getpid(), signal.SIGTERM)
        return loss

    with monkeypatch.context() as patch:
        patch.setattr(pretrain, "train_step", step_then_sigterm)
        signal.signal(signal.SIGTERM, lambda *a: pytest.fail("the run should listen for SIGTERM"))
        with pytest.raises(KeyboardInterrupt) as stopped:
            run_pretrain(tiny_cfg(corpus, tmp_path / "broken", objective="clm"))
    assert isinstance(stopped.value, Stopped) and stopped.value.step == 6
    assert torch.load(tmp_path / "broken.partial" / "checkpoint.pt", weights_only=False)["progress"]["step"] == 6
    run_pretrain(tiny_cfg(corpus, tmp_path / "broken", objective="clm", resume=True))
    a = AutoModel.from_pretrained(tmp_path / "unbroken").state_dict()
    b = AutoModel.from_pretrained(tmp_path / "broken").state_dict()
    for name in a:
        torch.testing.assert_close(b[name], a[name], atol=1e-6, rtol=0, msg=name)


def test_resume_refuses_a_different_model(corpus, tmp_path, monkeypatch) -> None:
    crash_at(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        run_pretrain(tiny_cfg(corpus, tmp_path / "run"))
    with pytest.raises(ConfigError, match="d_model is 64, but the checkpoint .* was made with 32"):
        run_pretrain(tiny_cfg(corpus, tmp_path / "run", d_model=64, resume=True))


@pytest.mark.parametrize("changed", [{"lr": 1e-2}, {"steps": 24}, {"dropout": 0.3}, {"warmup": 0.5}])
def test_resume_refuses_another_schedule(corpus, tmp_path, monkeypatch, changed) -> None:
    """A run resumed with another --steps or --lr went on under the new schedule and recorded only the new
    values: neither the run it started as nor the one it claimed to be."""
    with monkeypatch.context() as patch:
        crash_at(patch, 5)
        with pytest.raises(KeyboardInterrupt):
            run_pretrain(tiny_cfg(corpus, tmp_path / "run"))
    [(name, value)] = changed.items()
    with pytest.raises(ConfigError, match=f"--resume: {name} is {value!r}, but the checkpoint"):
        run_pretrain(tiny_cfg(corpus, tmp_path / "run", resume=True, **changed))


def test_resume_before_any_checkpoint_trains_the_tokenizer_it_asks_for(corpus, tmp_path, monkeypatch) -> None:
    """A run that stopped before its first checkpoint left OUT.partial/tokenizer; --resume with another corpus or
    --vocab-size took it, and pretrain.yaml named the vocabulary asked for, not the one the model has."""
    other = tmp_path / "other.txt"
    other.write_text("".join(f"zebras {w} quietly juggling purple lanterns .\n" for w in ("nine", "ten") * 300))
    with monkeypatch.context() as patch:
        crash_at(patch, 0)
        with pytest.raises(KeyboardInterrupt):
            run_pretrain(tiny_cfg(corpus, tmp_path / "run"))
    work = tmp_path / "run.partial"
    assert (work / "tokenizer").is_dir() and not (work / "checkpoint.pt").exists()
    run_pretrain(tiny_cfg(other, tmp_path / "run", resume=True))
    run_pretrain(tiny_cfg(other, tmp_path / "fresh"))
    assert (tmp_path / "run" / "tokenizer.json").read_text() == (tmp_path / "fresh" / "tokenizer.json").read_text()
    assert "zebras" in AutoTokenizer.from_pretrained(tmp_path / "run").get_vocab() or \
        "Ġzebras" in AutoTokenizer.from_pretrained(tmp_path / "run").get_vocab()


def test_a_checkpoint_from_before_text_field_resumes_as_made_with_the_default(corpus, tmp_path, monkeypatch) -> None:
    with monkeypatch.context() as patch:
        crash_at(patch, 5)
        with pytest.raises(KeyboardInterrupt):
            run_pretrain(tiny_cfg(corpus, tmp_path / "run"))
    saved = tmp_path / "run.partial" / "checkpoint.pt"
    ckpt = torch.load(saved, weights_only=False)
    del ckpt["config"]["text_field"]  # as checkpoints were written before the field existed
    torch.save(ckpt, saved)
    with pytest.raises(ConfigError, match="text_field is 'body', but the checkpoint .* was made with 'text'"):
        run_pretrain(tiny_cfg(corpus, tmp_path / "run", text_field="body", resume=True))
    assert run_pretrain(tiny_cfg(corpus, tmp_path / "run", resume=True))["steps"] == tiny_cfg(corpus, tmp_path).steps


def test_steps_zero_saves_the_random_init_with_the_given_tokenizer(corpus, tmp_path) -> None:
    first = run_pretrain(tiny_cfg(corpus, tmp_path / "trained", objective="mlm"))
    init = run_pretrain(tiny_cfg(corpus, tmp_path / "init", objective="mlm", steps=0, tokenizer=first["out"]))
    assert init["steps"] == 0 and init["val_ppl"] > first["val_ppl"]
    assert (tmp_path / "init" / "tokenizer.json").read_text() == (tmp_path / "trained" / "tokenizer.json").read_text()
    # it recorded --vocab-size's default (8000 here: 300), not the vocabulary the model has
    recorded = load_yaml(tmp_path / "init" / "pretrain.yaml")["vocab_size"]
    assert recorded == len(AutoTokenizer.from_pretrained(tmp_path / "init")) < 300
    saved = AutoModelForMaskedLM.from_pretrained(tmp_path / "init")
    torch.manual_seed(0)  # the seed's initialisation: where the pretrained run started from, too
    fresh = ScratchForMaskedLM(saved.config)
    for name, value in fresh.state_dict().items():
        torch.testing.assert_close(saved.state_dict()[name], value, atol=0, rtol=0, msg=name)


def test_a_model_no_better_than_its_baseline_is_warned_of_and_reported(corpus, tmp_path, capsys) -> None:
    """An untrained model (here, step 0) had a report whose table alone showed it worse than token
    frequencies; the run now says so, on stderr and under the table."""
    result = run_pretrain(tiny_cfg(corpus, tmp_path / "init", objective="clm", steps=0))
    assert result["val_ppl"] > result["unigram_ppl"]
    assert "ctxlearn: warning: The model does not beat the baseline yet" in capsys.readouterr().err
    assert "token frequencies do. Train longer" in (tmp_path / "init" / "report.md").read_text()


def test_a_contrastive_model_is_weighed_against_itself_untrained_not_chance(corpus, tmp_path, capsys) -> None:
    """Two dropout views of one text match each other even in a random encoder: a model trained at lr 1e-9 scored
    top-1 1.0, "32.0x chance", and no run adapting it was warned that it had learnt nothing."""
    result = run_pretrain(tiny_cfg(corpus, tmp_path / "still", objective="contrastive", lr=1e-9))
    assert result["val_top1"] > 2 * result["chance_top1"], "chance would call it trained"
    assert result["val_loss"] == pytest.approx(result["untrained_val_loss"], rel=1e-3)
    assert "does not beat the baseline yet" in capsys.readouterr().err
    assert pretrain.weak_pretraining(tmp_path / "still").startswith(
        f"its pretraining (12 steps) does not beat its baseline (validation loss {result['val_loss']:.4f}, against "
        f"the untrained model's {result['untrained_val_loss']:.4f})")


@pytest.mark.parametrize("metrics, beats, words", [
    ({"val_loss": 0.5, "untrained_val_loss": 2.0, "val_top1": 1.0, "chance_top1": 0.125}, True,
     "validation loss is 75% below the untrained model's"),
    ({"val_loss": 1.9, "untrained_val_loss": 2.0, "val_top1": 1.0, "chance_top1": 0.125}, False,
     "no better than the untrained model does"),
    ({"val_ppl": 50.0, "unigram_ppl": 200.0}, True, "4.0x lower than the unigram baseline's"),
    ({"val_ppl": 200.0, "unigram_ppl": 200.0}, False, "no better than token frequencies"),
    ({"val_top1": 0.5, "chance_top1": 0.125}, True, "top-1 is 4.0x chance"),
    ({"val_top1": 0.1, "chance_top1": 0.125}, False, "no better than chance"),
])
def test_the_verdict_weighs_the_model_against_its_objectives_baseline(metrics, beats, words) -> None:
    assert pretrain.beats_baseline(metrics) is beats and words in pretrain.verdict(metrics)


def test_pretrained_encoders_ignore_token_types_and_take_pairs(corpus, tmp_path) -> None:
    """No pretraining objective shows the encoder a second segment, so it has no type table to leave
    half-untrained: pair inputs run, and their token types change nothing."""
    out = run_pretrain(tiny_cfg(corpus, tmp_path / "mlm", objective="mlm", steps=0))["out"]
    model, tokenizer = AutoModel.from_pretrained(out).eval(), AutoTokenizer.from_pretrained(out)
    assert model.config.type_vocab_size == 0
    pair = tokenizer(["the cat sees"], ["a dog likes the ball"], return_tensors="pt")
    assert pair["token_type_ids"].max() == 1  # the tokenizer still frames pairs as BERT's does
    untyped = {**pair, "token_type_ids": torch.zeros_like(pair["token_type_ids"])}
    torch.testing.assert_close(model(**pair).last_hidden_state, model(**untyped).last_hidden_state, atol=0, rtol=0)


def test_time_budget_stops_training(corpus, tmp_path) -> None:
    result = run_pretrain(tiny_cfg(corpus, tmp_path / "timed", steps=100_000, minutes=0.02))
    assert 0 < result["steps"] < 100_000 and result["train_seconds"] < 10


def test_decoder_folder_generates_text(corpus, tmp_path) -> None:
    run_pretrain(tiny_cfg(corpus, tmp_path / "lm", steps=40))
    model, tok = AutoModelForCausalLM.from_pretrained(tmp_path / "lm").eval(), AutoTokenizer.from_pretrained(tmp_path / "lm")
    ids = model.generate(**tok("the cat", return_tensors="pt"), max_new_tokens=4, do_sample=False)
    assert ids.shape[1] > 2


@pytest.mark.parametrize("kw, message", [({"objective": "mlm", "arch": "decoder"}, "use --arch encoder"),
                                         ({"objective": "nsp"}, "unknown objective"),
                                         ({"val_fraction": 0.7}, "val_fraction"),
                                         # trained an empty model to a report, or a traceback from torch
                                         ({"d_model": 0}, r"^d_model must be >= 1, not 0$"),
                                         ({"layers": 0}, r"^layers must be >= 1, not 0$"),
                                         ({"dropout": 1.5}, r"^dropout must be in \[0, 1\), e.g. 0.1, not 1.5$"),
                                         ({"mask_prob": 2.0}, r"^mask_prob must be in \(0, 1\), e.g. 0.15, not 2.0$"),
                                         ({"temperature": 0.0}, r"^temperature must be above 0, e.g. 0.05, not 0.0$"),
                                         ({"eval_every": 0}, r"^eval_every must be >= 1, not 0$"),
                                         # ran as off, and pretrain.yaml said "maybe"
                                         ({"bf16": "maybe"}, "bf16 .*maybe"),
                                         # learned positions failed mid-training, past the table
                                         ({"max_len": 8}, r"^--max-len 8 is shorter than --seq-len 16, the length")])
def test_bad_settings_say_what_would_be_right(corpus, tmp_path, kw, message) -> None:
    with pytest.raises(ConfigError, match=message):
        tiny_cfg(corpus, tmp_path, **kw)


@pytest.mark.parametrize("objective", ["clm", "mlm"])
def test_a_corpus_too_short_for_one_window_is_refused_naming_the_part(tmp_path, objective) -> None:
    (tmp_path / "two.txt").write_text("a\nb\n")  # one document each side: a letter and its separator
    with pytest.raises(ConfigError, match=f"{objective}: the corpus's train part holds 2 tokens, too few"):
        run_pretrain(tiny_cfg(tmp_path / "two.txt", tmp_path / "a", objective=objective))
    with pytest.raises(ConfigError, match=r"validation part holds 8 tokens, .* --val-fraction \(and --val-tokens\)"):
        run_pretrain(tiny_cfg(write_corpus(tmp_path / "c.txt"), tmp_path / "b", objective=objective, val_tokens=8))


def test_tokenizer_train_cli_writes_a_loadable_tokenizer(corpus, tmp_path, capsys) -> None:
    assert main(["tokenizer", "train", "--corpus", str(corpus), "--vocab-size", "100", "--kind", "wordpiece",
                 "--out", str(tmp_path / "wp")]) == 0
    tok = AutoTokenizer.from_pretrained(tmp_path / "wp")
    assert len(tok) <= 100 and tok.cls_token == "[CLS]"
    assert "wordpiece tokenizer" in capsys.readouterr().out
    assert main(["tokenizer", "train", "--corpus", str(corpus), "--vocab-size", "50000", "--kind", "wordpiece",
                 "--out", str(tmp_path / "big")]) == 0  # a toy corpus has far fewer pieces: the line says why
    size = len(AutoTokenizer.from_pretrained(tmp_path / "big"))
    assert (f"tokenizer with {size:,} tokens (50,000 asked: the corpus has no more pieces seen 2 times or more)"
            in capsys.readouterr().out)


@pytest.mark.parametrize("objective, kind, missing", [("mlm", "bpe", "mask_token, cls_token, sep_token"),
                                                      ("clm", "wordpiece", "eos_token")])
def test_a_tokenizer_without_the_objectives_special_tokens_is_refused(corpus, tmp_path, objective, kind,
                                                                    missing) -> None:
    """mlm with a BPE tokenizer was transformers' "no mask token" traceback; clm with a WordPiece one a TypeError."""
    from ctxlearn.scratch.tokenizer import train_tokenizer

    train_tokenizer(corpus.read_text().splitlines(), kind, 300).save_pretrained(tmp_path / kind)
    with pytest.raises(ConfigError, match=rf"^{tmp_path / kind}: the tokenizer has no {missing}, which {objective} "
                                          rf"needs; use a {'wordpiece' if kind == 'bpe' else 'bpe'} tokenizer"):
        run_pretrain(tiny_cfg(corpus, tmp_path / "run", objective=objective, tokenizer=str(tmp_path / kind)))


def test_tokenizer_train_refuses_a_negative_min_frequency_before_reading(tmp_path, capsys) -> None:
    """An OverflowError from the tokenizers library, after the corpus was read."""
    assert main(["tokenizer", "train", "--corpus", str(tmp_path / "missing.txt"), "--min-frequency", "-5",
                 "--out", str(tmp_path / "tok")]) == 2
    assert "--min-frequency must be >= 0" in capsys.readouterr().err and not (tmp_path / "tok").exists()


def test_tokenizer_train_replaces_only_a_tokenizer_folder(corpus, tiny_run, tmp_path, capsys) -> None:
    """`--out runs/x` saved the tokenizer's files into a run folder, over its own tokenizer: the run then read
    text with another vocabulary, without a word. Now only a new, empty or tokenizer folder is written, whole."""
    def train(out) -> int:
        return main(["tokenizer", "train", "--corpus", str(corpus), "--vocab-size", "100", "--kind", "wordpiece",
                     "--out", str(out)])

    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))  # a copy: the session's run is read-only
    before = {f: f.read_bytes() for f in run.rglob("*") if f.is_file()}
    refusals = ((run, "holds files that are not a tokenizer's"), (run / "tokenizer", "is a folder of the ctxlearn run"))
    for out, said in refusals:
        assert train(out) == 2 and said in capsys.readouterr().err
    assert {f: f.read_bytes() for f in run.rglob("*") if f.is_file()} == before
    assert train(tmp_path / "tok") == 0 and train(tmp_path / "tok") == 0  # a tokenizer folder is replaced whole
    assert AutoTokenizer.from_pretrained(tmp_path / "tok").vocab_size <= 100
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".tok")]  # no half-written folder left


def test_unigram_perplexity_and_info_nce_by_hand() -> None:
    train = torch.tensor([0, 0, 0, 1])  # add-one counts: 4 and 2 of 6
    assert unigram_ppl(train, torch.tensor([0, 1]), 2) == pytest.approx(math.exp(-(math.log(4 / 6) + math.log(2 / 6)) / 2))
    a = torch.eye(3)
    loss, acc = info_nce(a, a, temperature=1.0)
    assert acc.item() == 1.0 and loss.item() == pytest.approx(-math.log(math.e / (math.e + 2)), rel=1e-5)


def test_learning_rate_warms_up_then_decays_to_a_tenth_by_steps_or_minutes(corpus, tmp_path) -> None:
    cfg = tiny_cfg(corpus, tmp_path, steps=100, lr=1.0, warmup=0.1)
    lrs = [pretrain.learning_rate(cfg, pretrain.Progress(step=s)) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1, rel=0.02) and max(lrs) == lrs[9] and lrs[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10])) and all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    timed = tiny_cfg(corpus, tmp_path, steps=10 ** 6, minutes=1.0, lr=1.0, warmup=0.1)
    assert pretrain.learning_rate(timed, pretrain.Progress(step=3, elapsed=3.0)) == pytest.approx(0.5, rel=0.01)
    assert pretrain.learning_rate(timed, pretrain.Progress(step=9, elapsed=59.9)) == pytest.approx(0.1, abs=1e-3)


def test_untied_output_layer_trains_apart_from_the_embeddings(corpus, tmp_path) -> None:
    """--no-tie-embeddings: the saved model keeps its own output matrix, and pretraining moves it away
    from the token embeddings (tied, they are one tensor)."""
    out = run_pretrain(tiny_cfg(corpus, tmp_path / "untied", objective="mlm", tie_embeddings=False))["out"]
    model = AutoModelForMaskedLM.from_pretrained(out)
    assert model.config.tie_word_embeddings is False
    embed, head = model.model.encoder.embed.tokens.weight, model.lm_head.weight
    assert embed.data_ptr() != head.data_ptr() and not torch.allclose(embed, head)
    tied = AutoModelForMaskedLM.from_pretrained(run_pretrain(tiny_cfg(corpus, tmp_path / "tied", objective="mlm"))["out"])
    assert tied.lm_head.weight.data_ptr() == tied.model.encoder.embed.tokens.weight.data_ptr()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in tied.parameters()) + embed.numel()


class _Overflow:
    """An objective whose loss has a finite gradient of 2e20 per weight: its squares overflow float32, so the
    gradient norm is inf and clipping scales the step to nothing."""

    def batch(self) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.ones(2, 3, dtype=torch.long)}

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return ((model.weight * 1e10) ** 2).sum()


def test_a_step_whose_gradient_norm_overflows_is_counted_and_warned_once(capsys) -> None:
    model = torch.nn.Linear(3, 1, bias=False)
    start = model.weight.detach().clone()
    opt = torch.optim.AdamW(model.parameters(), weight_decay=0.0)
    state = pretrain.Progress()
    cfg = pretrain.PretrainConfig()
    for _ in range(3):
        pretrain.train_step(model, _Overflow(), opt, cfg, state, torch.device("cpu"), bf16=False)
        state.step += 1
    assert state.grad_norm_not_finite == 3
    assert capsys.readouterr().err.count("the gradient norm is inf at step 0") == 1
    assert torch.equal(model.weight.detach(), start)  # every update clipped to zero


def test_a_pretrain_run_given_no_out_leaves_a_model_of_other_settings_as_it_is(tmp_path, monkeypatch) -> None:
    """runs/pretrain was replaced by every pretrain run given no --out, a ten-minute model by a test of
    three steps; a model of other settings is now left there, and the run writes runs/pretrain-2."""
    import dataclasses

    from ctxlearn.config import save_yaml

    monkeypatch.chdir(tmp_path)
    first = pretrain.PretrainConfig(steps=5)
    assert first.out == "runs/pretrain"
    (tmp_path / "runs" / "pretrain").mkdir(parents=True)
    (tmp_path / "runs" / "pretrain" / "metrics.json").write_text("{}")
    save_yaml(dataclasses.asdict(first), tmp_path / "runs" / "pretrain" / "pretrain.yaml")
    assert pretrain.PretrainConfig(steps=5).out == "runs/pretrain"  # the same command again replaces its own
    assert pretrain.PretrainConfig(steps=6).out == "runs/pretrain-2"
    assert pretrain.PretrainConfig(steps=6, out="runs/pretrain").out == "runs/pretrain"  # named: as given
