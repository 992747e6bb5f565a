"""Long inputs: what truncation loses and what reading in windows wins back, on real data.

No data set beside the project has documents longer than MiniLM's window, so the benchmark makes the
window short instead: AG News (news title and lead, median 41 tokens) read at --max-length 32 (30 of
each text's own tokens) cuts most texts. With the packaged MiniLM-L6 and one method (default `head`:
frozen features, logistic regression; its cost is the forward pass), on the same splits and seed:
  1. truncate at 32: what every Trainer recipe does (the peer's behaviour; transformers' tokenizers
     cut at max_length);
  2. windows at 32: every text read whole in windows of 32 overlapping by half, trained and predicted
     in windows (``--long-inputs windows``);
  3. train short, test long: run 1's artifact predicting in windows (``ctxlearn eval --long-inputs windows``);
  4. the same as one run (``--long-inputs train-short``): trained truncated, dev (which picks the
     checkpoint, or the head's C) and test read in windows;
  5. the ceiling: truncate at 128, which cuts under 1% of the texts.
Prints test accuracy, macro-F1, rows read per text and wall seconds of each, and the gains of 2-4
over 1; writes JSON atomically (bench/results/long-inputs.json).

  python bench/long_inputs.py                          # head on AG News, a few minutes on 2 cores
  python bench/long_inputs.py --method lora --limit 3000 --max-length 24
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ctxlearn.config import TrainConfig
from ctxlearn.predict import Predictor
from ctxlearn.train.run import run_training

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune import environment, write_json  # noqa: E402  (bench/finetune.py)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "agnews"
RESULTS = ROOT / "bench" / "results"


def train(args: argparse.Namespace, out: Path, max_length: int, long_inputs: str) -> dict[str, Any]:
    """One run with a feature cache of its own, so its seconds include every forward pass it needs (a
    shared cache would hand train-short the truncated run's train features and the windows run's dev)."""
    os.environ["CTXLEARN_CACHE"] = str(out.with_name(out.name + "-cache"))
    t0 = time.perf_counter()
    res = run_training(TrainConfig(data=str(args.data), model="minilm", method=args.method, out=str(out),
                                   max_length=max_length, long_inputs=long_inputs, max_train=args.limit,
                                   seed=args.seed))
    return {"max_length": max_length, "long_inputs": long_inputs, "test_accuracy": res["test_accuracy"],
            "test_macro_f1": res["test_macro_f1"], "wall_seconds": round(time.perf_counter() - t0, 1)}


def read_in_windows(run: Path, data: Path) -> dict[str, Any]:
    """A run trained on truncated texts, scored on its own test split read in windows."""
    predictor = Predictor(run, long_inputs="windows")
    examples, source = predictor.test_split(data)
    t0 = time.perf_counter()
    m = predictor.evaluate_examples(examples, source)
    return {"test_accuracy": m["accuracy"], "test_macro_f1": m["macro_f1"],
            "predict_seconds": round(time.perf_counter() - t0, 1)}


def rows_per_text(run: Path, data: Path, long_inputs: str) -> float:
    from ctxlearn.train.encode import encode

    predictor = Predictor(run, long_inputs=long_inputs)
    examples, _ = predictor.test_split(data)
    return len(encode(examples, predictor.tokenizer, None, predictor.max_length, long_inputs)) / len(examples)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="a data folder with train/dev/test (default: AG News)")
    ap.add_argument("--method", default="head", help="ctxlearn method for every run (default head)")
    ap.add_argument("--max-length", type=int, default=32, help="the short window (default 32)")
    ap.add_argument("--limit", type=int, default=0, help="training examples (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "long-inputs.json")
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"{args.data} is absent: nothing to measure", file=sys.stderr)
        return 2
    env = environment()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"truncate": train(args, Path(tmp) / "cut", args.max_length, "truncate"),
                "windows": train(args, Path(tmp) / "whole", args.max_length, "windows")}
        runs["truncate_then_windows"] = read_in_windows(Path(tmp) / "cut", args.data)
        runs["train_short"] = train(args, Path(tmp) / "short", args.max_length, "train-short")
        runs["truncate"]["rows_per_text"] = 1.0
        runs["windows"]["rows_per_text"] = round(rows_per_text(Path(tmp) / "whole", args.data, "windows"), 3)
        runs["ceiling_truncate_128"] = train(args, Path(tmp) / "long", 128, "truncate")
    base = runs["truncate"]["test_accuracy"]
    result = {"benchmark": "long-inputs", "data": str(args.data), "model": "minilm", "method": args.method,
              "max_length": args.max_length, "limit": args.limit, "seed": args.seed, "environment": env, "runs": runs,
              "gain_windows_points": round(100 * (runs["windows"]["test_accuracy"] - base), 2),
              "gain_train_short_test_long_points": round(100 * (runs["truncate_then_windows"]["test_accuracy"] - base), 2),
              "gain_train_short_run_points": round(100 * (runs["train_short"]["test_accuracy"] - base), 2)}
    for name, r in runs.items():
        print(f"{name:24s} test accuracy {100 * r['test_accuracy']:.2f}  macro-F1 {100 * r['test_macro_f1']:.2f}  "
              f"{', '.join(f'{k} {v}' for k, v in r.items() if k.endswith(('seconds', 'per_text')))}")
    print(f"over truncation: windows {result['gain_windows_points']:+.2f} points; trained truncated, read in windows "
          f"{result['gain_train_short_test_long_points']:+.2f} points (as one train-short run "
          f"{result['gain_train_short_run_points']:+.2f})")
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
