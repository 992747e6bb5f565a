"""What does each layer of a scratch encoder know about the task? A linear probe per layer.

For every encoder folder given, mean-pool the states after the embeddings, after each block and after
the final LayerNorm (pre-LN models) over the real tokens of each sentence, fit a standardised logistic
regression on train and score dev. The peer is the same architecture at random initialisation
(``--baseline``, made with ``ctxlearn pretrain --steps 0 --tokenizer PRETRAINED``): pretraining that
learned something the task can use lifts the curve above it. About 40 s per model on 2 cores for SST-2 (a GPU is used when there is one).

  python bench/probe_layers.py --name gpu8 --baseline runs/mlm-gpu8-init runs/mlm-gpu8-A runs/mlm-gpu8-B

Writes bench/results/probe-layers-NAME.json atomically.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ctxlearn.data.readers import json_records

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune import environment, write_json  # noqa: E402  (bench/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def read_split(data: Path, split: str) -> tuple[list[str], list[str]]:
    rows = [record for _, record in json_records(data / f"{split}.jsonl")]
    return [r["text"] for r in rows], [str(r["label"]) for r in rows]


@torch.no_grad()
def layer_features(folder: Path, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """(layers + 1 [+ 1], N, H) mean-pooled states: embeddings, each block, the final norm if any."""
    import ctxlearn.scratch  # noqa: F401  (registers the scratch classes with the Auto classes)
    from transformers import AutoModel, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval().to(device)
    stack = model.encoder
    caught: list[torch.Tensor] = []
    for module in [stack.embed, *stack.layers, *([stack.norm] if stack.norm is not None else [])]:
        module.register_forward_hook(lambda m, i, o: caught.append(o[0] if isinstance(o, tuple) else o))
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=128, return_tensors="pt").to(device)
        caught.clear()
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
        out.append(torch.stack([(h.float() * mask).sum(1) / mask.sum(1) for h in caught]).cpu().numpy())  # (L, B, H)
    return np.concatenate(out, axis=1)


def probe(folder: Path, data: Path) -> list[float]:
    """Dev accuracy (%) of a logistic regression on each layer's train features."""
    (train_x, train_y), (dev_x, dev_y) = read_split(data, "train"), read_split(data, "dev")
    train_f, dev_f = layer_features(folder, train_x), layer_features(folder, dev_x)
    accs = []
    for layer in range(len(train_f)):
        scale = StandardScaler().fit(train_f[layer])
        clf = LogisticRegression(C=1.0, max_iter=3000).fit(scale.transform(train_f[layer]), train_y)
        accs.append(round(100 * clf.score(scale.transform(dev_f[layer]), dev_y), 1))
    return accs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path, help="scratch encoder folders (pretrain outputs)")
    ap.add_argument("--baseline", type=Path, required=True, help="the same architecture at random init")
    ap.add_argument("--name", required=True, help="names the results file")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sst2",
                    help="folder with train.jsonl and dev.jsonl (text, label)")
    ap.add_argument("--out", type=Path, default=None, help="results file (default: bench/results/probe-layers-NAME.json)")
    a = ap.parse_args()
    torch.manual_seed(0)
    base = probe(a.baseline, a.data)
    print(f"{'random init':<24} " + " ".join(f"{x:5.1f}" for x in base), flush=True)
    rows: dict[str, Any] = {}
    for folder in a.models:
        accs = probe(folder, a.data)
        gain = [round(x - b, 1) for x, b in zip(accs, base)]
        rows[str(folder)] = {"dev_by_layer": accs, "gain_over_random_init": gain}
        print(f"{folder.name:<24} " + " ".join(f"{x:5.1f}" for x in accs) + "   last layer "
              f"{gain[-1]:+.1f} over random init", flush=True)
    out = a.out or RESULTS / f"probe-layers-{a.name}.json"
    write_json(out, {"benchmark": "linear probe (standardised logistic regression on mean-pooled states) per layer, dev accuracy %",
                     "layers": "embeddings, each block, then the final LayerNorm of pre-LN models", "environment": environment(),
                     "data": str(a.data), "baseline": {"folder": str(a.baseline), "dev_by_layer": base}, "models": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
