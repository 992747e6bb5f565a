"""Does MLM pretraining help a scratch encoder? The issue-6 target, measured end to end.

Pretrains a scratch encoder with MLM on a corpus for a fixed number of minutes, saves the same
architecture and tokenizer at random initialisation (``pretrain --steps 0 --tokenizer``), then
fine-tunes both with ``ctxlearn train --method full`` on ../shared/data/sst2 with the same budget
(epochs, batch size, seed) at each learning rate given. The learning rate of each arm is chosen on
dev; the test accuracy of that choice is the result. Every step is a ctxlearn CLI command, run as
a subprocess, and a step whose output folder already exists is reused (so a stopped bench resumes).

  python bench/scratch_transfer.py --name self --corpus ../shared/data/sst2/train.jsonl --minutes 12
  python bench/scratch_transfer.py --name tapt --corpus builtin:movie-dialog ../shared/data/sst2/train.jsonl

Writes bench/results/scratch-transfer-NAME.json atomically.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune import environment, write_json  # noqa: E402  (bench/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sst2"
RESULTS = ROOT / "bench" / "results"
CLI = [sys.executable, "-m", "ctxlearn"]


def ctxlearn(args: list[str], out: Path) -> dict[str, Any]:
    """Run one ctxlearn command with --json unless ``out`` exists; the run's metrics either way."""
    if not out.exists():
        proc = subprocess.run([*CLI, *args, "--out", str(out), "--json"], capture_output=True, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if proc.returncode != 0:
            sys.exit(f"failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    return json.loads((out / "metrics.json").read_text())


def pretrain(a: argparse.Namespace, runs: Path) -> tuple[Path, Path, dict[str, Any]]:
    model, init = a.pretrained or runs / f"mlm-{a.name}", runs / f"mlm-{a.name}-init"
    common = ["pretrain", "--objective", "mlm", "--corpus", *a.corpus, "--seed", str(a.seed), "--mask-prob", str(a.mask_prob),
              *shlex.split(a.pretrain_args)]  # the same architecture for both arms
    if a.pretrained:
        metrics = json.loads((model / "metrics.json").read_text())
    else:
        metrics = ctxlearn([*common, "--minutes", str(a.minutes), "--steps", "1000000"], model)
    ctxlearn([*common, "--steps", "0", "--tokenizer", str(model)], init)
    same_architecture(model, init)
    keep = ("steps", "tokens_seen", "train_seconds", "train_tokens_per_s", "parameters", "val_ppl", "unigram_ppl")
    return model, init, {k: metrics.get(k) for k in keep}


def same_architecture(model: Path, init: Path) -> None:
    """Both arms must differ only in their weights: stop if --pretrain-args built another model."""
    a, b = (json.loads((f / "config.json").read_text()) for f in (model, init))
    keys = ("arch", "vocab_size", "d_model", "n_layer", "n_head", "d_ff", "positions", "norm", "max_len", "dropout")
    diff = {k: (a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)}
    if diff:
        sys.exit(f"the random-init arm {init} differs from {model} in {diff} (pretrained, init); "
                 "give --pretrain-args the pretrained model's architecture flags")


def finetune(folder: Path, lr: str, seed: int, a: argparse.Namespace, out: Path) -> dict[str, Any]:
    m = ctxlearn(["train", "--data", str(DATA), "--model", f"scratch:{folder}", "--method", "full", "--epochs",
                  str(a.epochs), "--lr", lr, "--seed", str(seed)], out)
    return {"lr": lr, "seed": seed, "dev_accuracy": m["dev"]["accuracy"], "test_accuracy": m["test"]["accuracy"]}


def arm(folder: Path, name: str, a: argparse.Namespace) -> dict[str, Any]:
    """Every learning rate at every fine-tuning seed; the learning rate with the best mean dev accuracy is chosen."""
    by_lr = {}
    for lr in a.lrs.split(","):
        # the first seed keeps the folder name single-seed runs had, so those runs are reused
        runs = [finetune(folder, lr, seed, a, a.runs / (f"sst2-{a.name}-{name}-{lr}" + (f"-s{seed}" if seed != a.seed else "")))
                for seed in a.finetune_seeds]
        by_lr[lr] = {"runs": runs, **{f"{k}_mean": float(np.mean([r[k] for r in runs])) for k in ("dev_accuracy", "test_accuracy")},
                     "test_accuracy_std": float(np.std([r["test_accuracy"] for r in runs]))}
    best = max(by_lr, key=lambda lr: by_lr[lr]["dev_accuracy_mean"])
    return {"by_lr": by_lr, "chosen_on_dev": {"lr": best, **{k: v for k, v in by_lr[best].items() if k != "runs"}}}


def paired_gain(arms: dict[str, Any]) -> dict[str, Any]:
    """Test-point differences seed by seed at each arm's chosen learning rate (a seed fixes the data order and
    the head's initialisation in both arms): their mean, standard deviation and t = mean / (sd / sqrt(n))."""
    runs = [{r["seed"]: r["test_accuracy"] for r in arms[name]["by_lr"][arms[name]["chosen_on_dev"]["lr"]]["runs"]}
            for name in ("mlm", "random_init")]
    diffs = [100 * (runs[0][s] - runs[1][s]) for s in sorted(runs[0])]
    sd = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else float("nan")
    t = float(np.mean(diffs)) / (sd / np.sqrt(len(diffs))) if len(diffs) > 1 and sd > 0 else float("nan")
    return {"diffs": [round(d, 2) for d in diffs], "mean": round(float(np.mean(diffs)), 2), "sd": round(sd, 2), "t": round(float(t), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, help="names the run folders and the results file")
    ap.add_argument("--corpus", nargs="+", required=True, help="pretraining corpus (as `ctxlearn pretrain --corpus`)")
    ap.add_argument("--minutes", type=float, default=10.0, help="pretraining wall-clock budget")
    ap.add_argument("--mask-prob", type=float, default=0.15, help="MLM: share of tokens predicted")
    ap.add_argument("--epochs", type=float, default=4.0, help="fine-tuning epochs, both arms")
    ap.add_argument("--lrs", default="3e-4,1e-4", help="fine-tuning learning rates tried on each arm (chosen on dev)")
    ap.add_argument("--pretrain-args", default="",
                    help='extra `ctxlearn pretrain` flags for both arms, e.g. "--layers 2 --d-model 128 --lr 1e-3"')
    ap.add_argument("--seed", type=int, default=0, help="pretraining seed (and the first fine-tuning seed)")
    ap.add_argument("--finetune-seeds", type=lambda v: [int(x) for x in v.split(",")], default=None,
                    help="fine-tuning seeds, comma-separated; each arm's score is their mean (default: --seed)")
    ap.add_argument("--pretrained", type=Path, default=None,
                    help="an MLM folder pretrained elsewhere (a GPU, say) to use instead of pretraining here; "
                         "--corpus and --pretrain-args must be the ones it was made with")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs", help="where the run folders go")
    a = ap.parse_args()
    a.finetune_seeds = a.finetune_seeds or [a.seed]
    model, init, pre = pretrain(a, a.runs)
    arms = {name: arm(folder, name, a) for name, folder in (("mlm", model), ("random_init", init))}
    for name, res in arms.items():
        print(f"{name:<12} " + "  ".join(f"lr {lr}: dev {100 * r['dev_accuracy_mean']:.1f} test {100 * r['test_accuracy_mean']:.1f}"
                                        f" ± {100 * r['test_accuracy_std']:.1f}" for lr, r in res["by_lr"].items()), flush=True)
    chosen = {name: res["chosen_on_dev"]["test_accuracy_mean"] for name, res in arms.items()}
    gain = 100 * (chosen["mlm"] - chosen["random_init"])
    paired = paired_gain(arms)
    res = {"benchmark": "scratch encoder: MLM-pretrained vs random init, fine-tuned on sst2 with the same budget",
           "environment": environment(), "corpus": a.corpus, "mask_prob": a.mask_prob, "pretrain_args": a.pretrain_args,
           "pretrain_minutes": round(pre["train_seconds"] / 60, 2) if a.pretrained else a.minutes,
           "pretrained_elsewhere": str(a.pretrained) if a.pretrained else None, "finetune_epochs": a.epochs, "seed": a.seed,
           "finetune_seeds": a.finetune_seeds, "pretrain": pre, "arms": arms, "test_gain_points": round(gain, 2),
           "paired_by_seed": paired,
           "target": {"target": "MLM-pretrained beats random init on sst2 test (lr chosen on mean dev over the "
                                "fine-tuning seeds)", "pass": gain > 0}}
    print(f"pretrained {'beats' if gain > 0 else 'does not beat'} random init: {gain:+.2f} test points "
          f"(mean of {len(a.finetune_seeds)} fine-tuning seeds; paired by seed: t = {paired['t']})")
    out = RESULTS / f"scratch-transfer-{a.name}.json"
    write_json(out, res)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
