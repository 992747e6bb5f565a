"""The length study: which position encoding still works on inputs longer than it was trained on?

Decoders that differ only in their position encoding are trained (``ctxlearn pretrain``, same
corpus, tokenizer, size, seed and budget) at one sequence length L, then scored on the same held-out
tokens cut into non-overlapping windows of L, 2L, 4L and 8L tokens (Press et al. 2021's protocol).
Longer windows give most tokens more context, so an encoding that extrapolates gets *lower*
perplexity past L; one that does not gets higher. Learned positions have no rows past what was
trained: their table is made 8L long, and rows beyond L keep their random initialisation.

  OUT/tokenizer/            the shared tokenizer (trained once on the corpus's train split)
  OUT/models/<encoding>/    one pretraining run per encoding (reused when present: rerun to resume;
                            one made with other settings is refused, never scored under these)
  OUT/lengths.{json,md,png} perplexity per encoding and length: table, plot
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ctxlearn.artifact import output_kind
from ctxlearn.config import check_at_least, load_yaml, opt
from ctxlearn.data.folders import same_data
from ctxlearn.errors import ConfigError
from ctxlearn.lock import holds_out
from ctxlearn.registry import did_you_mean
from ctxlearn.scratch.corpus import CORPUS_FIELD_HELP, RECORDED_SINCE, read_corpus, split_documents, token_stream
from ctxlearn.scratch.model import POSITIONS
from ctxlearn.scratch.objectives import stream_nll, unigram_ppl
from ctxlearn.scratch.pretrain import PretrainConfig, run_pretrain
from ctxlearn.scratch.tokenizer import load_tokenizer, train_tokenizer
from ctxlearn.threads import on_own_threads
from ctxlearn.train.dist import say, warn

WINDOW_TOKENS = 8192  # tokens per evaluation batch, whatever the window length
VAL_FRACTION = 0.05  # held-out share of the corpus, as pretrain's default
# pretrain.yaml fields that decide a study model and the data it saw (the tokenizer is compared by content;
# max_len only where it sizes a learned table: other encodings' weights do not depend on it)
MODEL_FIELDS = ("corpus", "text_field", "objective", "positions", "layers", "d_model", "heads", "seq_len", "batch_size",
                "steps", "minutes", "lr", "seed", "val_fraction")
TOKENIZER_RECORD = "study.json"  # in OUT/tokenizer: the corpus and vocabulary size it was trained with
DEFAULT_CORPUS = ["builtin:movie-dialog"]
STUDY_FILES = ("tokenizer", "models", "lengths.json", "lengths.md", "lengths.png")  # what a study writes in OUT


@dataclass
class LengthsConfig:
    # its flag is --corpus PATH...; unset: the --models' own corpus, else builtin:movie-dialog
    corpus: list[str] = field(default_factory=list)
    text_field: str = opt("text", CORPUS_FIELD_HELP)
    out: str = opt("runs/lengths", "output folder: lengths.json, lengths.md, lengths.png, and the models")
    positions: str = opt(",".join(POSITIONS), "comma-separated position encodings to compare")
    models: str = opt("", "comma-separated folders of pretrained scratch decoders to score instead of training "
                          "(they must share one tokenizer)")
    train_len: int = opt(64, "training sequence length L (with --models, the models' own pretrain.yaml seq_len)")
    factors: str = opt("1,2,4,8", "evaluation lengths, as multiples of L")
    layers: int = opt(4, "Transformer blocks of each model")
    d_model: int = opt(256, "model width")
    heads: int = opt(4, "attention heads")
    vocab_size: int = opt(8000, "vocabulary of the shared tokenizer")
    batch_size: int = opt(32, "training sequences per step")
    steps: int = opt(2000, "training steps per model")
    minutes: float = opt(0.0, "training minutes per model (0 = no limit; the first budget to run out ends training)")
    lr: float = opt(1e-3, "peak learning rate")
    eval_tokens: int = opt(65536, "held-out tokens scored at every length (the same tokens at each)")
    seed: int = opt(0, "seed shared by every model")
    threads: int = opt(0, "CPU threads for torch (0 = all cores)")

    def __post_init__(self) -> None:
        for p in self.encodings:
            if p not in POSITIONS:
                raise ConfigError(f"--positions: unknown encoding {p!r}{did_you_mean(p, POSITIONS)}; choose from "
                                  f"{', '.join(POSITIONS)}")
            if self.encodings.count(p) > 1:  # its model was trained once and scored twice, as two rows
                raise ConfigError(f"--positions: {p} listed more than once; list each encoding once")
        if not self.factor_list or min(self.factor_list) < 1:
            raise ConfigError(f"--factors must be positive integers, e.g. 1,2,4,8, not {self.factors!r}")
        check_at_least(self, {"train_len": 8, "eval_tokens": 1})  # --train-len 0 divided by zero

    @property
    def encodings(self) -> list[str]:
        return [p.strip() for p in self.positions.split(",") if p.strip()]

    @property
    def factor_list(self) -> list[int]:
        try:
            return [int(f) for f in self.factors.split(",") if f.strip()]
        except ValueError:
            raise ConfigError(f"--factors must be comma-separated integers, e.g. 1,2,4,8, not {self.factors!r}") from None


def shared_tokenizer(cfg: LengthsConfig, train_docs: list[str]) -> Path:
    """OUT/tokenizer, trained on first use; a later run must ask for the same corpus and vocabulary."""
    folder = Path(cfg.out) / "tokenizer"
    wanted = {"corpus": cfg.corpus, "text_field": cfg.text_field, "vocab_size": cfg.vocab_size}
    if not (folder / "tokenizer.json").is_file():
        say(f"training the shared tokenizer ({cfg.vocab_size} tokens)")
        train_tokenizer(train_docs, "bpe", cfg.vocab_size).save_pretrained(folder)
        (folder / TOKENIZER_RECORD).write_text(json.dumps(wanted))
    fix = f"use another --out, or delete {folder} and {folder.parent / 'models'}"
    if not (folder / TOKENIZER_RECORD).is_file():
        raise ConfigError(f"{folder}: no {TOKENIZER_RECORD} saying what the shared tokenizer was trained with; {fix}")
    made = {**RECORDED_SINCE, **json.loads((folder / TOKENIZER_RECORD).read_text())}
    for name, value in wanted.items():
        if made.get(name) != value:
            raise ConfigError(f"{folder / TOKENIZER_RECORD}: the shared tokenizer was trained with {name} "
                              f"{made.get(name)!r}, but this run asks for {value!r}; {fix}")
    return folder


def pretrain_config(cfg: LengthsConfig, positions: str, tokenizer: Path) -> PretrainConfig:
    """The ``ctxlearn pretrain`` run of one study model: only ``positions`` differs between models."""
    return PretrainConfig(
        corpus=cfg.corpus, text_field=cfg.text_field, out=str(Path(cfg.out) / "models" / positions), objective="clm",
        positions=positions, tokenizer=str(tokenizer), layers=cfg.layers, d_model=cfg.d_model, heads=cfg.heads,
        seq_len=cfg.train_len, max_len=cfg.train_len * max(cfg.factor_list), batch_size=cfg.batch_size, steps=cfg.steps,
        minutes=cfg.minutes, lr=cfg.lr, seed=cfg.seed, threads=cfg.threads, resume=True, val_fraction=VAL_FRACTION,
        eval_every=max(cfg.steps, 1))


def check_reusable(folder: Path, wanted: PretrainConfig) -> None:
    """Refuse a finished model whose pretraining differs from what this run would do: scoring it
    under the new settings would report another model's perplexities as these."""
    made = {**RECORDED_SINCE, **load_yaml(folder / "pretrain.yaml")}
    for name in MODEL_FIELDS + (("max_len",) if wanted.positions == "learned" else ()):
        if made.get(name) != getattr(wanted, name):
            raise ConfigError(f"{folder / 'pretrain.yaml'}: {name} is {made.get(name)!r}, but this run asks for "
                              f"{getattr(wanted, name)!r}; use another --out, or delete {folder} to retrain it")
    if (folder / "tokenizer.json").read_text() != (Path(wanted.tokenizer) / "tokenizer.json").read_text():
        raise ConfigError(f"{folder}: trained with another tokenizer than {wanted.tokenizer}; use another --out, "
                          f"or delete {folder} to retrain it")


def train_models(cfg: LengthsConfig, tokenizer: Path) -> list[Path]:
    """One decoder per encoding, identical otherwise, all with the ``tokenizer`` folder; finished ones
    are kept, interrupted ones resume."""
    folders = []
    for positions in cfg.encodings:
        wanted = pretrain_config(cfg, positions, tokenizer)
        folder = Path(wanted.out)
        if (folder / "config.json").is_file():
            check_reusable(folder, wanted)
        else:
            say(f"training the {positions} decoder")
            run_pretrain(wanted)
        folders.append(folder)
    return folders


def models_corpus(cfg: LengthsConfig, made: dict[Path, dict[str, Any]]) -> tuple[list[str], str, float]:
    """(corpus, text field, validation share) the given models were pretrained with (``made``: their
    pretrain.yaml), one for all: the study scores held-out text of their corpus, cut as pretraining cut it.
    Scored on 5% held out where a model held out 2.5%, half of the text was text it trained on (perplexity 18
    for 65); with --corpus left out, on the default corpus, one it never saw. A --corpus given must be theirs."""
    shared = {}
    for name in ("corpus", "text_field", "val_fraction"):
        values = {str(f): m.get(name, VAL_FRACTION if name == "val_fraction" else None) for f, m in made.items()}
        if len({json.dumps(v) for v in values.values()}) > 1:
            raise ConfigError(f"--models: pretrained with different {name} (" + ", ".join(
                f"{f}: {v}" for f, v in values.items()) + "); the study scores models on text held out from one corpus")
        shared[name] = next(iter(values.values()))
    theirs = shared["corpus"]
    same = len(cfg.corpus) == len(theirs) and all(same_data(a, b) for a, b in zip(cfg.corpus, theirs))
    if cfg.corpus and (not same or cfg.text_field != shared["text_field"]):
        raise ConfigError(f"--corpus {' '.join(cfg.corpus)} (--text-field {cfg.text_field}): the --models were "
                          f"pretrained on {' '.join(shared['corpus'])} (--text-field {shared['text_field']}), and the "
                          "study scores text held out from their own corpus, as they cut it; leave --corpus out, or "
                          "give theirs")
    return shared["corpus"], shared["text_field"], shared["val_fraction"]


def check_study_out(out: Path) -> None:
    """Refuse an --out holding anything but a study's own files: its lengths.* written into a pretrained model
    or a run folder made that folder one its own command then refused, as holding files it did not write."""
    if out.is_file():
        raise ConfigError(f"--out {out} is a file; give the path of a new folder")
    kind = output_kind(out) if out.is_dir() else None
    other = sorted(f.name for f in out.iterdir() if f.name not in STUDY_FILES) if out.is_dir() else []
    if kind or other:
        held = kind or ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
        raise ConfigError(f"--out {out} holds {held}, and a length study writes its lengths.* (training: tokenizer/ "
                          f"and models/) there; give a new folder, e.g. {out.with_name(f'{out.name}-lengths')}")


def model_records(folders: list[Path]) -> dict[Path, dict[str, Any]]:
    """Each --models folder's pretrain.yaml (settings added since it was written at the value it was made
    with), refusing a folder without one and an encoder."""
    made = {}
    for folder in folders:
        if not (folder / "pretrain.yaml").is_file():
            raise ConfigError(f"--models: {folder} has no pretrain.yaml, so its training length is unknown; "
                              "give folders written by `ctxlearn pretrain`")
        made[folder] = record = {**RECORDED_SINCE, **load_yaml(folder / "pretrain.yaml")}
        if record.get("arch", "decoder") != "decoder":  # the study's perplexity is of next tokens
            raise ConfigError(f"--models: {folder} is an {record.get('arch')} (pretrained with "
                              f"{record.get('objective')}), and the study scores decoders' next-token perplexity; "
                              "give folders of `ctxlearn pretrain --objective clm`")
    return made


def trained_length(made: dict[Path, dict[str, Any]]) -> int:
    """The sequence length L the given models were pretrained at (``made``: their pretrain.yaml), which
    must be one L for all: the study scores every model at multiples of it."""
    lengths = {folder: record.get("seq_len") for folder, record in made.items()}
    if len(set(lengths.values())) > 1:
        raise ConfigError("--models: trained at different lengths (" + ", ".join(f"{f}: seq_len {n}" for f, n in lengths.items())
                          + "); the study compares models trained at one length L")
    return next(iter(lengths.values()))


def score(folder: Path, stream: torch.Tensor, lengths: list[int]) -> dict[str, Any]:
    """Perplexity of the decoder in ``folder`` on ``stream`` at each window length."""
    from transformers import AutoModelForCausalLM

    import ctxlearn.scratch  # noqa: F401  (registers the scratch classes with the Auto classes)

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    ppl = {}
    for length in lengths:
        if model.config.positions == "learned" and length > model.config.max_len:
            ppl[str(length)] = None  # no table rows at all past max_len
            continue
        total, count = stream_nll(model, stream, length, max(1, WINDOW_TOKENS // length))
        ppl[str(length)] = math.exp(total / count)
        say(f"{model.config.positions:<10} length {length:>5}: perplexity {ppl[str(length)]:.2f}")
    return {"positions": model.config.positions, "model": str(folder), "ppl": ppl}


@on_own_threads
@holds_out
def run_lengths(cfg: LengthsConfig) -> dict[str, Any]:
    """Train (or take) the decoders, score them at every length, write the table and the plot."""
    check_study_out(Path(cfg.out))
    folders, val_fraction = [Path(m.strip()) for m in cfg.models.split(",") if m.strip()], VAL_FRACTION
    if folders:
        made = model_records(folders)
        cfg = replace(cfg, train_len=trained_length(made))  # L is the models', whatever --train-len says
        corpus, text_field, val_fraction = models_corpus(cfg, made)
        cfg = replace(cfg, corpus=corpus, text_field=text_field)
        say(f"--models were trained at {cfg.train_len} tokens: scoring at {cfg.factors} times that, on the "
            f"{val_fraction:.1%} of {' '.join(corpus)} they held out")
    cfg = replace(cfg, corpus=cfg.corpus or DEFAULT_CORPUS)
    train_docs, val_docs = split_documents(read_corpus(cfg.corpus, cfg.text_field), val_fraction)
    tokenizer_folder = folders[0] if folders else shared_tokenizer(cfg, train_docs)
    tokenizer = load_tokenizer(tokenizer_folder)
    lengths = [cfg.train_len * f for f in cfg.factor_list]
    stream = token_stream(val_docs, tokenizer, tokenizer.eos_token_id)
    stream = stream[:min(len(stream), cfg.eval_tokens) // max(lengths) * max(lengths)]  # every length sees these tokens
    if not len(stream):  # checked before any model trains, not after minutes of training
        raise ConfigError(f"the validation text is shorter than one window of {max(lengths)} tokens; use more text or "
                          "smaller --factors or --train-len")
    folders = folders or train_models(cfg, tokenizer_folder)
    _check_same_tokenizer(folders)
    train = token_stream(train_docs, tokenizer, tokenizer.eos_token_id)
    result = {"config": asdict(cfg), "train_len": cfg.train_len, "lengths": lengths, "eval_tokens": len(stream),
              "unigram_ppl": unigram_ppl(train, stream, len(tokenizer)),
              "rows": [score(f, stream, lengths) for f in folders]}
    write_outputs(Path(cfg.out), result)
    return result


def _check_same_tokenizer(folders: list[Path]) -> None:
    texts = {(f / "tokenizer.json").read_text() for f in folders if (f / "tokenizer.json").is_file()}
    if len(texts) > 1:
        raise ConfigError(f"--models: {', '.join(map(str, folders))} use different tokenizers, so their perplexities "
                          "are not comparable; pretrain them with the same --tokenizer")


def degradation(row: dict[str, Any], lengths: list[int]) -> float | None:
    """Perplexity at the longest length over perplexity at the training length (lower extrapolates better)."""
    first, last = row["ppl"].get(str(lengths[0])), row["ppl"].get(str(lengths[-1]))
    return last / first if first and last else None


def table(result: dict[str, Any]) -> str:
    lengths = result["lengths"]
    head = "| encoding | " + " | ".join(f"{n} ({n // result['train_len']}x)" for n in lengths) + f" | {lengths[-1]} / {lengths[0]} |"
    lines = [head, "|---" * (len(lengths) + 2) + "|"]
    for row in sorted(result["rows"], key=lambda r: degradation(r, lengths) or math.inf):
        cells = [f"{row['ppl'][str(n)]:.2f}" if row["ppl"][str(n)] is not None else "n/a" for n in lengths]
        ratio = degradation(row, lengths)
        lines.append(f"| {row['positions']} | " + " | ".join(cells) + (f" | {ratio:.2f} |" if ratio else " | n/a |"))
    return "\n".join(lines)


def untrained(result: dict[str, Any]) -> list[str]:
    """The encodings whose model is no better than the unigram baseline at the training length: it has
    learnt little beyond token frequencies, so how it degrades says nothing yet of its positions."""
    first = str(result["lengths"][0])
    return [r["positions"] for r in result["rows"] if (r["ppl"][first] or math.inf) >= result["unigram_ppl"]]


def verdict(result: dict[str, Any]) -> str:
    """The encoding that degrades least from the training length to the longest, among the models that beat
    the unigram baseline (those that do not are named apart)."""
    lengths, weak = result["lengths"], untrained(result)
    ranked = [r for r in result["rows"] if r["positions"] not in weak]
    if not ranked:
        return ("No model beats the unigram baseline at the training length: they have learnt little beyond token "
                "frequencies, so how they degrade says nothing yet of their position encodings. Train longer "
                "(--steps, --minutes) or on more text.")
    best = min(ranked, key=lambda r: degradation(r, lengths) or math.inf)
    apart = (f" Not ranked: {', '.join(weak)}, no better than the unigram baseline at the training length (train "
             "longer).") if weak else ""
    return f"Least degradation from {lengths[0]} to {lengths[-1]} tokens: **{best['positions']}**.{apart}"


def write_outputs(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "lengths.json").write_text(json.dumps(result, indent=2))
    (out / "lengths.md").write_text(
        f"# Perplexity by evaluation length (trained at {result['train_len']} tokens)\n\n"
        f"Same {result['eval_tokens']:,} held-out tokens at every length, in non-overlapping windows. "
        f"Unigram baseline: {result['unigram_ppl']:.1f}. Rows from least to most degradation; "
        f"n/a: learned positions have no table rows there.\n\n{table(result)}\n\n{verdict(result)}\n\n"
        "![perplexity by length](lengths.png)\n")
    plot(result, out / "lengths.png")
    weak = untrained(result)
    if weak:
        warn(verdict(result).replace("**", "") if len(weak) == len(result["rows"]) else
             f"{', '.join(weak)}: no better than the unigram baseline at the training length, so left out of the "
             "ranking in lengths.md; train longer (--steps, --minutes)")


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for row in result["rows"]:
        points = [(n, row["ppl"][str(n)]) for n in result["lengths"] if row["ppl"][str(n)] is not None]
        ax.plot(*zip(*points), marker="o", label=row["positions"])
    ax.axvline(result["train_len"], color="grey", linestyle=":", label="training length")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.minorticks_off()
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(6))  # readable ticks however narrow the range
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set(xlabel="evaluation length (tokens)", ylabel="validation perplexity (log scale)",
           title="Extrapolation by position encoding")
    ax.set_xticks(result["lengths"], [str(n) for n in result["lengths"]])
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
