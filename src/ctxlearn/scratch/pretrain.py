"""Pretrain a scratch model on a corpus: tokenizer -> objective -> AdamW loop -> model folder.

The loop is written out (not transformers' Trainer) because it is short and because a pretraining
run is budgeted in steps or minutes, evaluated on a fixed validation stream, and resumed from a
checkpoint that also restores which batches come next. The output folder loads with
``AutoModel*.from_pretrained`` after ``import ctxlearn.scratch``, and with ``--model scratch:OUT``
in ``ctxlearn train`` (encoders) and ``ctxlearn icl`` (decoders).

  OUT/  config.json model.safetensors   the model (ScratchForCausalLM / ForMaskedLM / ScratchModel)
        tokenizer.json ...              its tokenizer
        metrics.json                    final validation loss, perplexity, the unigram baseline, cost
        log.jsonl                       training loss every few steps and every evaluation
        pretrain.yaml  report.md        the resolved configuration; a short human summary
  OUT.partial/                          checkpoint.pt and tokenizer/ while running (for --resume)
"""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ctxlearn.artifact import PRETRAINED, check_out, write_atomically
from ctxlearn.config import (check_at_least, check_choices, check_shares, free_run_folder, opt, other_run_note,
                             refuse_changes, save_yaml)
from ctxlearn.errors import ConfigError
from ctxlearn.lock import holds_out
from ctxlearn.models.infer import autocast
from ctxlearn.scratch.corpus import CORPUS_FIELD_HELP, RECORDED_SINCE, read_corpus, split_documents
from ctxlearn.scratch.model import NORMS, POSITIONS, ScratchConfig
from ctxlearn.scratch.objectives import OBJECTIVES, batch_tokens, check_tokenizer
from ctxlearn.scratch.tokenizer import KIND_FOR_ARCH, check_vocab_size, load_tokenizer, train_tokenizer
from ctxlearn.threads import on_own_threads
from ctxlearn.train.dist import say, warn
from ctxlearn.train.hf import warn_grad_norm
from ctxlearn.train.resume import refuse_to_discard, work_folder
from ctxlearn.train.stop import StopAsked, Stopped, listening

DEFAULT_OUT = "runs/pretrain"  # the model folder of a run given no --out
UNTRAINED = "untrained_val_loss"  # contrastive's baseline: the validation loss of the model before training
LEARNT_SHARE = 0.1  # contrastive: how far below the untrained model's validation loss counts as having learnt
LOG_EVERY = 10  # steps between training-loss log lines
# Fields a resumed run must share with its checkpoint: they decide the model, the data, the batches and the
# schedule (a run resumed with another --steps or --lr is neither run, and its pretrain.yaml named only the new one)
RESUME_FIXED = ("corpus", "text_field", "arch", "objective", "positions", "norm", "tokenizer", "vocab_size", "layers",
                "d_model", "heads", "d_ff", "seq_len", "max_len", "tie_embeddings", "batch_size", "seed",
                "val_fraction", "dropout", "steps", "minutes", "lr", "warmup", "weight_decay", "mask_prob",
                "temperature")


@dataclass
class PretrainConfig:
    corpus: list[str] = field(default_factory=lambda: ["builtin:movie-dialog"])  # its flag is --corpus PATH...
    text_field: str = opt("text", CORPUS_FIELD_HELP)
    out: str = opt("", "output folder: model, tokenizer, metrics.json, log.jsonl, report.md; unset, "
                       f"{DEFAULT_OUT}, or {DEFAULT_OUT}-2 and on where that holds a model of other settings")
    objective: str = opt("clm", "clm (next token, decoder), mlm (masked tokens, encoder) or contrastive (SimCSE, encoder)")
    arch: str = opt("", "encoder or decoder (default: the one the objective trains)")
    positions: str = opt("rope", "position encoding: sinusoidal, learned, relative, rope or alibi", choices=POSITIONS)
    norm: str = opt("pre", "pre-LN or post-LN blocks", choices=NORMS)
    tokenizer: str = opt("", "tokenizer folder to use instead of training one on the corpus (e.g. another run's OUT)")
    vocab_size: int = opt(8000, "vocabulary size of the tokenizer trained on the corpus")
    layers: int = opt(4, "Transformer blocks")
    d_model: int = opt(256, "model width")
    heads: int = opt(4, "attention heads")
    d_ff: int = opt(0, "feed-forward width (0 = 4 * d_model)")
    seq_len: int = opt(128, "training sequence length in tokens")
    max_len: int = opt(0, "context the model advertises, and the learned position table's size (0 = seq_len)")
    dropout: float = opt(0.1, "dropout (embeddings, residual branches, attention)")
    tie_embeddings: bool = opt(True, "mlm/clm: the output layer shares the token-embedding matrix (as in BERT and "
                               "GPT-2); --no-tie-embeddings gives it its own, so predicting tokens no longer "
                               "moves the input embeddings")
    batch_size: int = opt(32, "sequences per step")
    steps: int = opt(2000, "optimizer steps; 0 saves the randomly initialised model (a from-scratch baseline)")
    minutes: float = opt(0.0, "stop after this many minutes of training (0 = no limit); the learning-rate "
                         "schedule follows whichever of steps and minutes runs out first")
    lr: float = opt(1e-3, "peak learning rate (linear warm-up, cosine decay to a tenth)")
    warmup: float = opt(0.05, "share of the budget (steps or minutes) spent warming the learning rate up")
    weight_decay: float = opt(0.1, "AdamW weight decay on matrices (not on biases and norms)")
    mask_prob: float = opt(0.15, "mlm: share of tokens predicted (of those, 8 in 10 become [MASK], 1 a random token, 1 stays)")
    temperature: float = opt(0.05, "contrastive: InfoNCE temperature")
    val_fraction: float = opt(0.05, "share of the corpus's documents held out for validation")
    val_tokens: int = opt(32768, "validation tokens scored at each evaluation (contrastive: about this / seq_len documents)")
    eval_every: int = opt(250, "steps between validation evaluations")
    save_every: int = opt(250, "steps between checkpoints (for --resume)")
    bf16: str = opt("auto", "bf16 autocast: auto (where the hardware has fast bf16), on, off",
                    choices=("auto", "on", "off"))
    seed: int = opt(0, "seed for the initialisation, data order, masks and dropout")
    threads: int = opt(0, "CPU threads for torch (0 = all cores)")
    resume: bool = opt(False, "continue from the checkpoint in OUT.partial (Ctrl-C or SIGTERM saves one at the "
                              "step it stops)")

    def __post_init__(self) -> None:
        check_choices(self)  # `--bf16 maybe` ran as off and was recorded as maybe
        objective = OBJECTIVES.get(self.objective)
        self.arch = self.arch or objective.arch
        if self.arch != objective.arch:
            raise ConfigError(f"objective {self.objective} trains an {objective.arch}, not an {self.arch}; "
                              f"use --arch {objective.arch} (or leave it out)")
        if self.steps < 0 or self.minutes < 0 or self.batch_size < 2 or self.seq_len < 8:
            raise ConfigError("steps and minutes must be >= 0, batch_size >= 2 and seq_len >= 8")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"warmup is a share of the budget in [0, 1), not {self.warmup}")
        if not 0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), not {self.val_fraction}")
        # a width or depth of 0 trained an empty model to a report; a dropout of 1.5 or a mask share of 2 was a
        # traceback from torch or transformers
        check_at_least(self, {"layers": 1, "d_model": 1, "heads": 1, "d_ff": 0, "max_len": 0, "lr": 0,
                              "weight_decay": 0, "val_tokens": 1, "eval_every": 1, "save_every": 1, "threads": 0})
        check_shares(self, ("dropout",), 0.1)
        if not 0 < self.mask_prob < 1:
            raise ConfigError(f"mask_prob must be in (0, 1), e.g. 0.15, not {self.mask_prob}", field="mask_prob")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be above 0, e.g. 0.05, not {self.temperature}", field="temperature")
        if 0 < self.max_len < self.seq_len:  # learned positions failed mid-training; others advertised too little
            raise ConfigError(f"--max-len {self.max_len} is shorter than --seq-len {self.seq_len}, the length the "
                              f"model trains at; use --max-len {self.seq_len} or more (0: the --seq-len)",
                              field="max_len")
        if not self.tokenizer:  # one is trained on the corpus
            check_vocab_size(KIND_FOR_ARCH[self.arch], self.vocab_size)
        self.out = self.out or free_run_folder(DEFAULT_OUT, dataclasses.asdict(self), "pretrain.yaml", "metrics.json")


@dataclass
class Progress:
    """What a checkpoint restores besides weights: where training is, and its log so far."""

    step: int = 0
    elapsed: float = 0.0  # training seconds, evaluations included
    tokens: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    grad_norm_not_finite: int = 0  # steps whose gradient norm was inf or nan (clipping left no update, or nan)


def model_config(cfg: PretrainConfig, tokenizer: Any) -> ScratchConfig:
    # No token-type table: neither MLM nor contrastive batches hold sentence pairs, so it would train the
    # type-0 row only and give the second text of every pair in `ctxlearn train` an untrained row. As
    # in RoBERTa, the [SEP] between the texts tells them apart; MLM windows see it at document ends.
    return ScratchConfig(arch=cfg.arch, vocab_size=len(tokenizer), d_model=cfg.d_model, n_layer=cfg.layers,
                         n_head=cfg.heads, d_ff=cfg.d_ff, max_len=cfg.max_len or cfg.seq_len, positions=cfg.positions,
                         norm=cfg.norm, dropout=cfg.dropout, attn_dropout=cfg.dropout,
                         tie_word_embeddings=cfg.tie_embeddings,
                         type_vocab_size=0, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)


def get_tokenizer(cfg: PretrainConfig, train_docs: list[str], work: Path) -> Any:
    """The given tokenizer, the one this run already trained (on resume), or a new one on the train split."""
    if cfg.tokenizer:
        return load_tokenizer(cfg.tokenizer)
    if (work / "tokenizer").is_dir():
        return load_tokenizer(work / "tokenizer")
    say(f"training a {KIND_FOR_ARCH[cfg.arch]} tokenizer ({cfg.vocab_size} tokens) on {len(train_docs):,} documents")
    tokenizer = train_tokenizer(train_docs, KIND_FOR_ARCH[cfg.arch], cfg.vocab_size)
    tokenizer.save_pretrained(work / "tokenizer")
    return tokenizer


def optimizer(model: torch.nn.Module, cfg: PretrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only: decaying biases and LayerNorm gains only hurts (nanoGPT's rule)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))


def progress_fraction(cfg: PretrainConfig, state: Progress, ahead: int = 0) -> float:
    """How much of the budget is spent (``ahead`` steps from now): the larger of the step and time shares."""
    by_steps = (state.step + ahead) / cfg.steps if cfg.steps else 1.0
    by_time = state.elapsed / (60 * cfg.minutes) if cfg.minutes else 0.0
    return max(by_steps, by_time)


def learning_rate(cfg: PretrainConfig, state: Progress) -> float:
    """Linear warm-up over the first ``warmup`` share of the budget, then cosine decay to a tenth. In
    shares of the budget rather than steps, so a minutes budget warms up for the same share."""
    done = min(1.0, progress_fraction(cfg, state, ahead=1))
    warm = min(1.0, done / cfg.warmup) if cfg.warmup > 0 else 1.0
    cosine = 0.5 * (1 + math.cos(math.pi * done))
    return cfg.lr * warm * (0.1 + 0.9 * cosine)


def save_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, state: Progress,
                    cfg: PretrainConfig) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "progress": dataclasses.asdict(state),
                "config": dataclasses.asdict(cfg)}, tmp)
    tmp.replace(path)  # a crash mid-save leaves the previous checkpoint intact


def load_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, cfg: PretrainConfig) -> Progress:
    ckpt = torch.load(path, map_location=next(model.parameters()).device, weights_only=False)
    made = {**RECORDED_SINCE, **ckpt["config"]}
    refuse_changes(made, {name: getattr(cfg, name) for name in RESUME_FIXED}, f"the checkpoint {path}")
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    return Progress(**ckpt["progress"])


def train_step(model: torch.nn.Module, objective: Any, opt: torch.optim.Optimizer, cfg: PretrainConfig,
               state: Progress, device: torch.device, bf16: bool) -> float:
    # Everything random in a step (batch, masks, dropout) depends only on (seed, step): a resumed run
    # continues exactly as an unbroken one would.
    torch.manual_seed(cfg.seed * 1_000_003 + state.step)
    batch = {k: v.to(device) for k, v in objective.batch().items()}
    for group in opt.param_groups:
        group["lr"] = learning_rate(cfg, state)
    with autocast(bf16, device):
        loss = objective.loss(model, batch)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    if not torch.isfinite(norm):
        state.grad_norm_not_finite += 1
        if state.grad_norm_not_finite == 1:
            warn_grad_norm(norm.item(), state.step, "a lower --lr or --bf16 off")
    opt.step()
    opt.zero_grad(set_to_none=True)
    state.tokens += batch_tokens(batch)
    return loss.item()


def evaluate(model: torch.nn.Module, objective: Any, state: Progress, device: torch.device, bf16: bool) -> dict[str, float]:
    model.eval()
    with autocast(bf16, device):
        result = {"step": state.step, "tokens": state.tokens, **objective.evaluate(model)}
    model.train()
    state.log.append({"eval": result})
    say("eval " + "  ".join(f"{k} {v:.4g}" for k, v in result.items()))
    return result


def train(model: torch.nn.Module, objective: Any, opt: torch.optim.Optimizer, cfg: PretrainConfig, state: Progress,
          work: Path, device: torch.device, bf16: bool) -> None:
    """Steps until the budget is spent, logging, evaluating and checkpointing on the way. Ctrl-C or SIGTERM
    ends the step running, and saves a checkpoint at it for --resume."""
    model.train()
    clock, losses, stop = time.time() - state.elapsed, [], StopAsked()
    with listening(stop):
        while progress_fraction(cfg, state) < 1.0:
            losses.append(train_step(model, objective, opt, cfg, state, device, bf16))
            state.step += 1
            state.elapsed = time.time() - clock
            if state.step % LOG_EVERY == 0:
                state.log.append({"step": state.step, "loss": sum(losses) / len(losses),
                                  "lr": learning_rate(cfg, state), "tokens": state.tokens, "seconds": state.elapsed})
                say(f"step {state.step}  loss {state.log[-1]['loss']:.4f}  lr {state.log[-1]['lr']:.2e}  "
                    f"{state.tokens / max(state.elapsed, 1e-9):,.0f} tok/s  {state.elapsed / 60:.1f} min")
                losses = []
            if state.step % cfg.eval_every == 0:
                evaluate(model, objective, state, device, bf16)
            if state.step % cfg.save_every == 0 or stop.asked is not None:
                save_checkpoint(work / "checkpoint.pt", model, opt, state, cfg)
            if stop.asked is not None:
                raise Stopped(stop.asked, state.step)


@on_own_threads
@holds_out
def run_pretrain(cfg: PretrainConfig) -> dict[str, Any]:
    """Pretrain as ``cfg`` says and write the model folder ``cfg.out``; returns its metrics."""
    check_out(cfg.out, writes=PRETRAINED)
    if note := other_run_note(cfg.out, DEFAULT_OUT):
        say(note)
    from ctxlearn.icl.run import device as best_device, resolve_bf16

    device, bf16 = torch.device(best_device()), resolve_bf16(cfg.bf16)
    work = work_folder(cfg)
    refuse_to_discard(work, cfg.resume, work / "checkpoint.pt" if (work / "checkpoint.pt").is_file() else None)
    if work.exists() and not (work / "checkpoint.pt").is_file():  # a run that failed before its first checkpoint:
        shutil.rmtree(work)  # its tokenizer, of another corpus or size perhaps, is checked by no checkpoint's record
    work.mkdir(parents=True, exist_ok=True)
    train_docs, val_docs = split_documents(read_corpus(cfg.corpus, cfg.text_field), cfg.val_fraction)
    tokenizer = get_tokenizer(cfg, train_docs, work)
    check_tokenizer(tokenizer, cfg.objective, OBJECTIVES.get(cfg.objective).needs, cfg.tokenizer or str(work))
    if cfg.tokenizer:  # pretrain.yaml records the vocabulary the model has, not --vocab-size's unused default
        cfg = dataclasses.replace(cfg, vocab_size=len(tokenizer))
    objective = OBJECTIVES.get(cfg.objective)(tokenizer, train_docs, val_docs, cfg)
    torch.manual_seed(cfg.seed)
    model = objective.head(model_config(cfg, tokenizer)).to(device)
    with autocast(bf16, device):  # before a checkpoint loads: contrastive's bar is the untrained model
        baseline = objective.baseline(model)
    opt = optimizer(model, cfg)
    state = Progress()
    if cfg.resume and (work / "checkpoint.pt").is_file():
        state = load_checkpoint(work / "checkpoint.pt", model, opt, cfg)
        say(f"resuming at step {state.step}")
    n_params = sum(p.numel() for p in model.parameters())
    say(f"{cfg.objective} {cfg.arch}, {cfg.positions} positions, {n_params:,} parameters; "
        f"{len(train_docs):,} train / {len(val_docs):,} validation documents")
    train(model, objective, opt, cfg, state, work, device, bf16)
    last = state.log[-1].get("eval", {}) if state.log else {}
    final = last if last.get("step") == state.step else evaluate(model, objective, state, device, bf16)
    metrics = summary(cfg, final, baseline, state, n_params)
    if not beats_baseline(metrics):
        warn(verdict(metrics))
    out = write_atomically(Path(cfg.out), lambda tmp: _fill(tmp, cfg, model, tokenizer, metrics, state),
                           writes=PRETRAINED)
    shutil.rmtree(work, ignore_errors=True)
    say(f"wrote {out}")
    return {"out": str(out), **metrics}


def summary(cfg: PretrainConfig, final: dict[str, float], baseline: dict[str, float], state: Progress,
            n_params: int) -> dict[str, Any]:
    return {"objective": cfg.objective, "arch": cfg.arch, "positions": cfg.positions, "corpus": cfg.corpus,
            "steps": state.step, "tokens_seen": state.tokens, "train_seconds": state.elapsed,
            "train_tokens_per_s": state.tokens / state.elapsed if state.elapsed else 0.0, "parameters": n_params,
            "grad_norm_not_finite": state.grad_norm_not_finite,
            **{k: v for k, v in final.items() if k not in ("step", "tokens")}, **baseline}


def _fill(folder: Path, cfg: PretrainConfig, model: torch.nn.Module, tokenizer: Any, metrics: dict[str, Any],
          state: Progress) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    save_yaml(dataclasses.asdict(cfg), folder / "pretrain.yaml")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (folder / "log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in state.log))
    (folder / "report.md").write_text(report(metrics))


def report(m: dict[str, Any]) -> str:
    lines = [f"# Pretraining: {m['objective']} {m['arch']}, {m['positions']} positions", "",
             f"{m['steps']} steps, {m['tokens_seen']:,} tokens in {m['train_seconds'] / 60:.1f} min "
             f"({m['train_tokens_per_s']:,.0f} tokens/s), {m['parameters']:,} parameters; corpus {', '.join(m['corpus'])}", "",
             "| model | validation loss | perplexity / top-1 |", "|---|---|---|"]
    if "val_ppl" in m:
        lines += [f"| this model | {m['val_loss']:.4f} | {m['val_ppl']:.2f} |",
                  f"| unigram baseline (token frequencies of the training text) | {math.log(m['unigram_ppl']):.4f} | {m['unigram_ppl']:.2f} |"]
    else:
        lines += [f"| this model | {m['val_loss']:.4f} | {m['val_top1']:.3f} |",
                  *([f"| the untrained model (dropout views of a text match even in a random encoder) | "
                     f"{m['untrained_val_loss']:.4f} | {m['untrained_val_top1']:.3f} |"] if UNTRAINED in m else []),
                  f"| chance | | {m['chance_top1']:.3f} |"]
    return "\n".join(lines + ["", verdict(m)]) + "\n"


def beats_baseline(m: dict[str, Any]) -> bool:
    """Whether the model predicts the validation text better than the baseline beside it: a lower
    perplexity than token frequencies (clm, mlm); contrastive, a validation loss at least ``LEARNT_SHARE``
    below the untrained model's (where a model's metrics predate that record: a higher top-1 than chance)."""
    if "val_ppl" in m:
        return m["val_ppl"] < m["unigram_ppl"]
    return m["val_loss"] < (1 - LEARNT_SHARE) * m[UNTRAINED] if UNTRAINED in m else m["val_top1"] > m["chance_top1"]


def verdict(m: dict[str, Any]) -> str:
    """One sentence under the report's table: how far the model is past its baseline, or that it is not."""
    bar = ("token frequencies do" if "val_ppl" in m else
           f"the untrained model does (its validation loss is not {LEARNT_SHARE:.0%} below the untrained one's)"
           if UNTRAINED in m else "chance")
    if not beats_baseline(m):
        return ("The model does not beat the baseline yet: it predicts the validation text no better than "
                f"{bar}. Train longer (--steps, --minutes) before fine-tuning from it or comparing it.")
    if "val_ppl" in m:
        return f"The model's perplexity is {m['unigram_ppl'] / m['val_ppl']:.1f}x lower than the unigram baseline's."
    if UNTRAINED in m:
        return f"The model's validation loss is {1 - m['val_loss'] / m[UNTRAINED]:.0%} below the untrained model's."
    return f"The model's top-1 is {m['val_top1'] / m['chance_top1']:.1f}x chance."


def weak_pretraining(folder: Path) -> str | None:
    """Why adapting or prompting the scratch model in ``folder`` starts from little, where its ``metrics.json``
    says its pretraining did not beat its baseline; None where it did, where it says nothing, and for a
    ``--steps 0`` model (random weights, asked for as a from-scratch baseline)."""
    path = folder / "metrics.json"
    m = json.loads(path.read_text()) if path.is_file() else {}
    scored = {"val_ppl", "unigram_ppl"} <= m.keys() or {"val_top1", "chance_top1"} <= m.keys()
    if not m.get("steps") or not scored or beats_baseline(m):
        return None
    score = (f"validation perplexity {m['val_ppl']:.1f}, against the unigram baseline's {m['unigram_ppl']:.1f}"
             if "val_ppl" in m else
             f"validation loss {m['val_loss']:.4f}, against the untrained model's {m[UNTRAINED]:.4f}" if UNTRAINED in m
             else f"validation top-1 {m['val_top1']:.3f}, against chance's {m['chance_top1']:.3f}")
    return (f"its pretraining ({m['steps']} steps) does not beat its baseline ({score}), so this run starts from "
            "little more than random weights; pretrain it longer (--steps, --minutes) first")


def warn_if_weak(name: str, folder: str | Path) -> None:
    """Warn that a run adapting or prompting the scratch model ``name`` (in ``folder``) starts from little,
    where ``weak_pretraining`` says so: its scores would otherwise read as a pretrained model's."""
    if weak := weak_pretraining(Path(folder)):
        warn(f"{name}: {weak}")
