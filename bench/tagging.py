"""Tagging benchmark: ctxlearn token tagging against the Hugging Face Trainer NER peer, side by side.

For each data set (default ../shared/data/wikiann_en and mit_movie), with the packaged MiniLM-L6, the
same training sentences, epochs and batch size:
  1. the peer, ../shared/peers/ner_peer_trainer.py (run_ner recipe: first sub-word labelled, lr 5e-5,
     no warmup, fp32, random batches), run as a subprocess: entity F1 on test, training seconds;
  2. ctxlearn `full` and `lora` (run_training, task tagging, each method's defaults but the epochs and
     batch size): entity F1 on test (seqeval strict BIO), useful tokens/s from the run manifest;
  3. useful tokens/s of both and the ratio, and the targets: full F1 >= peer F1, lora within 3 points
     of full, ours >= 2x the peer's useful tokens/s.
Useful tokens are the non-padding tokens of the training batches, special tokens included, on both
sides. The peer's figure is its training examples per second (its own clock around Trainer.train)
times the mean token count of its encoded training sentences; ours is `cost.steady_train_tokens_per_s`
(training steps timed step end to step end, dev evaluations and checkpoint saves left out), with the
whole-run figure (evaluations and saves included) beside it.

--limit N keeps the first N training sentences, for both (written to a temporary copy of the data
folder, dev and test unchanged). Prints a table and writes JSON atomically (bench/results/tagging.json).

  python bench/tagging.py                                # the full benchmark, 3 epochs on both data sets
  python bench/tagging.py --limit 200 --epochs 1         # a smoke run of every part, in a few minutes
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import numpy as np
import torch

from ctxlearn.config import TrainConfig
from ctxlearn.models.registry import resolve_model
from ctxlearn.train.run import run_training

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune import environment, write_json  # noqa: E402  (bench/finetune.py)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PEER = SHARED / "peers" / "ner_peer_trainer.py"
RESULTS = ROOT / "bench" / "results"
DATASETS = ("wikiann_en", "mit_movie")
TARGET_SPEEDUP, LORA_MARGIN = 2.0, 0.03


def sentences(path: Path, limit: int | None = None) -> list[list[tuple[str, str]]]:
    """(token, tag) sentences of a token<TAB>tag file, the first ``limit`` of them."""
    out, cur = [], []
    for line in path.open(encoding="utf-8"):
        line = line.rstrip("\n")
        if line.strip():
            cur.append(tuple(line.split("\t")[:2]))
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out[:limit] if limit else out


def prepared_folder(data: Path, limit: int | None, work: Path) -> Path:
    """``data`` itself, or a copy whose train file holds only the first ``limit`` sentences."""
    if not limit:
        return data
    folder = work / f"{data.name}-first{limit}"
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join("".join(f"{w}\t{t}\n" for w, t in s) for s in sentences(data / "train.conll", limit))
    (folder / "train.conll").write_text(text, encoding="utf-8")
    for split in ("dev", "test"):
        (folder / f"{split}.conll").write_bytes((data / f"{split}.conll").read_bytes())
    return folder


def mean_tokens(data: Path) -> float:
    """Mean non-padding tokens per training sentence as the peer encodes them (specials in, truncated at 128)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model("minilm").path)
    words = [[w for w, _ in s] for s in sentences(data / "train.conll")]
    return float(np.mean([len(ids) for ids in tok(words, is_split_into_words=True, truncation=True, max_length=128)["input_ids"]]))


def cpu_prefix(threads: int) -> list[str]:
    """The peer sets torch to every core; with --threads, pin it to that many with taskset."""
    return ["taskset", "-c", f"0-{threads - 1}"] if threads else []


def run_peer(data: Path, epochs: float, batch: int, threads: int, work: Path) -> dict[str, Any]:
    cmd = [*cpu_prefix(threads), sys.executable, str(PEER), "--data", str(data), "--epochs", str(epochs),
           "--batch", str(batch)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(work)})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout)[-2000:], "command": cmd}
    res = json.loads(lines[-1])
    res["wall_seconds"] = time.perf_counter() - t0
    res["mean_tokens"] = mean_tokens(data)
    res["useful_tokens_per_s"] = res["examples_per_s"] * res["mean_tokens"]
    return res


def run_ours(data: Path, method: str, epochs: float, batch: int, threads: int, work: Path) -> dict[str, Any]:
    cfg = TrainConfig(data=str(data), task="tagging", model="minilm", method=method, epochs=epochs, batch_size=batch,
                      out=str(work / f"{data.name}-{method}"), seed=0, threads=threads)
    t0 = time.perf_counter()
    summary = run_training(cfg)
    manifest = json.loads((Path(summary["out"]) / "manifest.json").read_text())
    cost = manifest["cost"]
    return {"method": method, "f1": summary["test_f1"], "precision": summary["test_precision"],
            "recall": summary["test_recall"], "dev_f1": summary["dev_f1"], "bf16": manifest["bf16"],
            "useful_tokens_per_s": cost["steady_train_tokens_per_s"], "whole_run_tokens_per_s": cost["train_tokens_per_s"],
            "train_seconds": cost["train_seconds"], "wall_seconds": time.perf_counter() - t0,
            "epochs_run": manifest["training"].get("epochs_run"), "trainable_params": cost["trainable_params"]}


def targets(name: str, peer: dict[str, Any], ours: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    if "full" in ours and "error" not in peer:
        full = ours["full"]
        out.append({"target": f"{name}: full test F1 >= peer", "value": full["f1"] - peer["f1"], "pass": full["f1"] >= peer["f1"]})
        ratio = full["useful_tokens_per_s"] / peer["useful_tokens_per_s"]
        out.append({"target": f"{name}: full useful tokens/s >= {TARGET_SPEEDUP}x peer", "value": ratio,
                    "pass": ratio >= TARGET_SPEEDUP})
    if "full" in ours and "lora" in ours:
        gap = ours["full"]["f1"] - ours["lora"]["f1"]
        out.append({"target": f"{name}: lora within {100 * LORA_MARGIN:.0f} points of full", "value": gap,
                    "pass": gap <= LORA_MARGIN})
    return out


def print_report(res: dict[str, Any]) -> None:
    print(f"\nepochs {res['epochs']}, batch {res['batch_size']}, train sentences: "
          f"{res['limit'] or 'all'}; threads {res['environment']['torch_threads']}\n")
    print(f"{'data':<12}{'run':<16}{'test F1':>9}{'P':>8}{'R':>8}{'useful tok/s':>14}{'x peer':>8}{'train s':>9}")
    for name, d in res["datasets"].items():
        peer = d["peer"]
        if "error" in peer:
            print(f"{name:<12}{'peer':<16}FAILED: {(peer['error'].strip().splitlines() or ['?'])[-1]}")
        else:
            print(f"{name:<12}{'peer (Trainer)':<16}{100 * peer['f1']:>8.1f}%{100 * peer['precision']:>7.1f}%"
                  f"{100 * peer['recall']:>7.1f}%{peer['useful_tokens_per_s']:>14.0f}{1:>8.2f}{peer['train_s']:>9.1f}")
        for m, r in d["ours"].items():
            ratio = r["useful_tokens_per_s"] / peer["useful_tokens_per_s"] if "error" not in peer else float("nan")
            print(f"{'':<12}{'ctxlearn ' + m:<16}{100 * r['f1']:>8.1f}%{100 * r['precision']:>7.1f}%"
                  f"{100 * r['recall']:>7.1f}%{r['useful_tokens_per_s']:>14.0f}{ratio:>8.2f}{r['train_seconds']:>9.1f}")
            print(f"{'':<28}(whole run, dev evaluations and saves included: {r['whole_run_tokens_per_s']:.0f} useful tok/s)")
    load = res["environment"]["loadavg_1m_at_start"]
    if load > 1.0:
        print(f"\nWARNING: load average {load:.1f} when this run started; timings are not trustworthy")
    print()
    for t in res["targets"]:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['value']:.3f}")
    if res["limit"]:
        print("(--limit: a smoke run; the targets are for the full training sets)")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=",".join(DATASETS), help="comma-separated folders under ../shared/data")
    ap.add_argument("--methods", default="full,lora", help="ctxlearn methods to run (default full,lora)")
    ap.add_argument("--epochs", type=float, default=3.0, help="epochs for the peer and for every method (default 3)")
    ap.add_argument("--batch", type=int, default=32, help="batch size for both (default 32, the peer's)")
    ap.add_argument("--limit", type=int, default=0, help="use the first N training sentences (0 = all)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for both sides (0 = every core)")
    ap.add_argument("--out", type=Path, default=None, help="JSON results (default bench/results/tagging.json, "
                                                          "or tagging-limitN.json with --limit)")
    return ap.parse_args()


def main() -> None:
    a = parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    out = a.out or RESULTS / (f"tagging-limit{a.limit}.json" if a.limit else "tagging.json")
    res: dict[str, Any] = {"benchmark": "tagging", "model": "minilm", "epochs": a.epochs, "batch_size": a.batch,
                           "limit": a.limit, "environment": environment(), "datasets": {}, "targets": []}
    with tempfile.TemporaryDirectory(prefix="ctxlearn-bench-tagging-") as tmp:
        for name in [d.strip() for d in a.data.split(",") if d.strip()]:
            data = prepared_folder(SHARED / "data" / name, a.limit, Path(tmp))
            peer = run_peer(data, a.epochs, a.batch, a.threads, Path(tmp))
            ours = {m: run_ours(data, m, a.epochs, a.batch, a.threads, Path(tmp)) for m in a.methods.split(",") if m}
            res["datasets"][name] = {"train_sentences": len(sentences(data / "train.conll")), "peer": peer, "ours": ours}
            res["targets"] += targets(name, peer, ours)
    print_report(res)
    write_json(out, res)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
