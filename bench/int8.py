"""Which int8 engine `ctxlearn export --int8` should use on this CPU: measured, not assumed.

On one trained classifier artifact (MiniLM `head` on SST-2 by default), over the first N test sentences in
length-sorted batches, single-threaded unless --threads: sentences/s and agreement with fp32 for
  torch fp32 eager | torch bf16 autocast (what a bf16 artifact runs) | torch.ao quantize_dynamic int8 |
  torchao Int8DynamicActivationInt8Weight (if installed) | ONNX Runtime fp32 and dynamic int8 (if installed).
Writes bench/results/int8-engines.json and prints a table. The decision it informs is written in
src/ctxlearn/export/quantize.py and README "Serving and export".

  python bench/int8.py --artifact /tmp/serve-art          # about 3 minutes on one thread
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune import environment, write_json  # noqa: E402  (bench/ is not a package)

from ctxlearn.artifact import load_classifier  # noqa: E402
from ctxlearn.data.example import Example  # noqa: E402
from ctxlearn.export.quantize import quantize_int8  # noqa: E402
from ctxlearn.models.infer import autocast, bf16_available  # noqa: E402
from ctxlearn.train.encode import batches_by_length, encode  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
Batch = dict[str, torch.Tensor]


def batches(folder: Path, tokenizer: Any, n: int, batch_size: int) -> tuple[list[Batch], np.ndarray]:
    """The first n test sentences, tokenised as `predict` does, padded per length-sorted batch; and their
    label ids in batch order."""
    from transformers import DataCollatorWithPadding

    manifest = json.loads((folder / "manifest.json").read_text())
    rows = [json.loads(l) for l in Path(manifest["data_sources"]["test"]).read_text().splitlines()[:n]]
    data = encode([Example(r["text"], "") for r in rows], tokenizer, None, 128)
    collate = DataCollatorWithPadding(tokenizer)
    order = batches_by_length(data, batch_size)
    labels = np.array([manifest["labels"].index(rows[i]["label"]) for idx in order for i in idx])
    return [dict(collate([data[i] for i in idx])) for idx in order], labels


def timed(fn: Callable[[Batch], np.ndarray], data: list[Batch]) -> tuple[float, np.ndarray]:
    """(sentences/s over the best of two passes after one warm-up batch, logits)."""
    fn(data[0])
    best, out = float("inf"), None
    for _ in range(2):
        t0 = time.perf_counter()
        out = [fn(b) for b in data]
        best = min(best, time.perf_counter() - t0)
    return sum(len(b["input_ids"]) for b in data) / best, np.concatenate(out)


def torch_fn(model: torch.nn.Module, bf16: bool = False) -> Callable[[Batch], np.ndarray]:
    @torch.inference_mode()
    def run(b: Batch) -> np.ndarray:
        with autocast(bf16):
            return model(**b).logits.float().numpy()
    return run


def torchao_fn(folder: Path) -> Callable[[Batch], np.ndarray] | str:
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except ImportError as err:
        return f"not installed ({err})"
    model = load_classifier(folder)[0]
    quantize_(model.backbone, Int8DynamicActivationInt8WeightConfig())
    return torch_fn(model)


def onnx_fns(folder: Path, sample: Batch, work: Path) -> dict[str, Callable[[Batch], np.ndarray] | str]:
    """ONNX Runtime sessions (fp32, dynamic int8) of the whole classifier, exported with torch.onnx."""
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as err:
        return {"onnxruntime fp32": f"not installed ({err})", "onnxruntime int8": f"not installed ({err})"}
    model = load_classifier(folder)[0]
    names = list(sample)
    fp32, int8 = work / "model.onnx", work / "model-int8.onnx"
    axes = {k: {0: "batch", 1: "seq"} for k in names}

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, args))).logits

    torch.onnx.export(Logits(), tuple(sample[k] for k in names), str(fp32), input_names=names, output_names=["logits"],
                      dynamic_axes=axes, dynamo=False)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = torch.get_num_threads(), 1

    def fn(path: Path) -> Callable[[Batch], np.ndarray]:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return lambda b: sess.run(None, {k: b[k].numpy() for k in names})[0]

    return {"onnxruntime fp32": fn(fp32), "onnxruntime int8": fn(int8)}


def measure(folder: Path, n: int, batch_size: int) -> list[dict[str, Any]]:
    model, tokenizer, _, _ = load_classifier(folder)
    data, labels = batches(folder, tokenizer, n, batch_size)
    engines: dict[str, Callable[[Batch], np.ndarray] | str] = {
        "torch fp32": torch_fn(model),
        "torch bf16 autocast": torch_fn(model, bf16=True) if bf16_available() else "no fast bf16 on this CPU (emulated)",
        "torch.ao quantize_dynamic int8": torch_fn(quantize_int8(load_classifier(folder)[0])),
        "torchao int8 dyn-act int8 weight": torchao_fn(folder)}
    with tempfile.TemporaryDirectory() as tmp:
        engines.update(onnx_fns(folder, data[0], Path(tmp)))
        rows, ref = [], None
        for name, fn in engines.items():
            if isinstance(fn, str):
                rows.append({"engine": name, "skipped": fn})
                continue
            speed, logits = timed(fn, data)
            ref = logits if ref is None else ref
            rows.append({"engine": name, "sentences_per_s": speed, "accuracy": float((logits.argmax(1) == labels).mean()),
                         "agree_with_fp32": float((logits.argmax(1) == ref.argmax(1)).mean()),
                         "max_abs_logit_diff": float(np.abs(logits - ref).max())})
            r = rows[-1]
            print(f"{name:<34}{speed:>8.1f}/s  accuracy {r['accuracy']:.4f}  agree with fp32 {r['agree_with_fp32']:.4f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifact", type=Path, required=True, help="a trained classifier run folder (`ctxlearn train --out`)")
    ap.add_argument("-n", type=int, default=2000, help="test sentences to time (default 2000: all of SST-2 test)")
    ap.add_argument("--batch-size", type=int, default=32, help="sentences per batch (default 32)")
    ap.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime intra-op threads (default 1)")
    ap.add_argument("--out", type=Path, default=RESULTS / "int8-engines.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore")
    res = {"benchmark": "int8-engines", "artifact": str(a.artifact), "n": a.n, "batch_size": a.batch_size,
           "environment": environment(), "rows": measure(a.artifact, a.n, a.batch_size)}
    write_json(a.out, res)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
