"""Pretraining benchmark: how fast the scratch Transformer trains, and what attention costs by length.

Measures, in one run:
  1. the matmul peak: best torch.mm GFLOP/s over the benchmarked model's own GEMM shapes (and 2048^3),
     fp32 and bf16, measured the way bench/finetune.py measures it;
  2. training throughput of a scratch decoder (CLM on random tokens, AdamW, ctxlearn pretrain's step):
     steady-state tokens/s after warm-up steps, and model FLOP utilisation against that peak;
  3. one causal attention call, forward and forward+backward, at lengths 256 to 4096: time and peak
     extra memory of torch's scaled_dot_product_attention against the explicit reference
     (softmax(QK^T/sqrt(d) + mask) V, which materialises the T x T matrix). Peak extra memory: on CPU
     the rise of the resident set's high-water mark (reset before each case), on CUDA the allocator's.
Prints tables and writes JSON atomically (bench/results/pretrain.json; --quick: pretrain-quick.json).

  python bench/pretrain.py           # d_model 256, 4 layers, 4 heads, seq 256, batch 16, 20 timed steps; T up to 4096
  python bench/pretrain.py --quick   # a smoke run of every part in about a minute
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402

from finetune import environment, mfu, peak_line, precisions, time_mm, write_json  # noqa: E402  (same peak method and records)
from ctxlearn.models.infer import autocast  # noqa: E402
from ctxlearn.scratch import ScratchConfig, ScratchForCausalLM  # noqa: E402
from ctxlearn.scratch.model import reference_attention  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MFU_TARGET = 0.40


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def best_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Fastest of ``repeats`` timed calls, after one untimed warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


# ---------------------------------------------------------------- 1. matmul peak

def gemm_shapes(cfg: ScratchConfig, tokens: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of the model's matmuls: projections, feed-forward in and out, output head; and 2048^3."""
    C, F, V = cfg.d_model, cfg.d_ff, cfg.vocab_size
    return [(tokens, C, C), (tokens, C, F), (tokens, F, C), (tokens, C, V), (2048, 2048, 2048)]


def cuda_mm_gflops(m: int, k: int, n: int, dtype: torch.dtype) -> float:
    a, b = torch.randn(m, k, device="cuda", dtype=dtype), torch.randn(k, n, device="cuda", dtype=dtype)
    return 2 * m * k * n / best_seconds(lambda: [torch.mm(a, b) for _ in range(20)], 3) * 20 / 1e9


def matmul_peak(cfg: ScratchConfig, tokens: int) -> dict[str, Any]:
    shapes = gemm_shapes(cfg, tokens)
    measure = cuda_mm_gflops if device().type == "cuda" else time_mm
    out: dict[str, Any] = {"shapes_mkn": shapes, "threads": torch.get_num_threads(), "device": device().type}
    for bf16 in precisions(device()):
        name, dtype = ("bf16", torch.bfloat16) if bf16 else ("fp32", torch.float32)
        per = {f"{m}x{k}x{n}": round(measure(m, k, n, dtype), 1) for m, k, n in shapes}
        out[name] = {"per_shape_gflops": per, "peak_gflops": max(per.values())}
    return out


# ---------------------------------------------------------------- 2. training throughput

def model_config(a: argparse.Namespace) -> ScratchConfig:
    return ScratchConfig(arch="decoder", vocab_size=a.vocab, d_model=a.d_model, n_layer=a.layers, n_head=a.heads,
                         max_len=a.seq_len, positions=a.positions, dropout=a.dropout, attn_dropout=a.dropout)


def flops_per_token(cfg: ScratchConfig, T: int) -> float:
    """Training FLOPs per token (forward + backward), nanoGPT's / PaLM's estimate:
         6 * (N + C * V)     N non-embedding parameters, plus the output projection (a real C x V matmul
                             even though its weights are tied to the embeddings)
       + 12 * L * C * T      attention scores and weighted sum: 2 * 2 * T * C per token per layer forward,
                             times 3 for forward + backward; the causal half is counted as PaLM does."""
    model = ScratchForCausalLM(cfg)
    embed = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters())
    n = sum(p.numel() for p in model.parameters()) - embed
    return 6 * (n + cfg.d_model * cfg.vocab_size) + 12 * cfg.n_layer * cfg.d_model * T


def train_throughput(cfg: ScratchConfig, a: argparse.Namespace, bf16: bool) -> dict[str, Any]:
    """Steady-state training tokens/s: random token batches through ctxlearn pretrain's kind of step."""
    torch.manual_seed(0)
    dev = device()
    model = ScratchForCausalLM(cfg).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95))
    batch = torch.randint(0, cfg.vocab_size, (a.batch, a.seq_len), device=dev)

    def step() -> None:
        with autocast(bf16, dev):
            loss = model(input_ids=batch, labels=batch, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    seconds = (time.perf_counter() - t0) / a.steps
    return {"bf16": bf16, "seconds_per_step": seconds, "tokens_per_s": a.batch * a.seq_len / seconds}


# ---------------------------------------------------------------- 3. attention by length

def attention_case(impl: str, T: int, heads: int, head_size: int, repeats: int) -> dict[str, Any]:
    """Time and peak extra memory of one causal attention call (batch 1), forward and forward+backward."""
    dev = device()
    q, k, v = (torch.randn(1, heads, T, head_size, device=dev, requires_grad=True) for _ in range(3))
    attend = {"sdpa": lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True),
              "reference": lambda: reference_attention(q, k, v, is_causal=True)}[impl]

    def forward() -> None:
        with torch.no_grad():
            attend()

    def train() -> None:
        attend().sum().backward()

    before = current_memory()
    train()
    peak = peak_memory() - before
    return {"impl": impl, "T": T, "forward_ms": 1000 * best_seconds(forward, repeats),
            "forward_backward_ms": 1000 * best_seconds(train, repeats), "peak_extra_mib": peak / 2 ** 20}


def current_memory() -> int:
    """Bytes in use now; from here on, peak_memory() reports the highest use (CUDA: allocator; CPU: resident set)."""
    if device().type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    # Hand freed heap pages back (earlier work left them resident, so reusing them would not show), then
    # reset the resident high-water mark (VmHWM) to now (Linux).
    ctypes.CDLL(None).malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") * 1024


def peak_memory() -> int:
    if device().type == "cuda":
        return torch.cuda.max_memory_allocated()
    return _status_kib("VmHWM") * 1024


def _status_kib(field: str) -> int:
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field + ":"))
    return int(line.split()[1])


def attention_sweep(a: argparse.Namespace) -> list[dict[str, Any]]:
    hs = a.d_model // a.heads
    return [attention_case(impl, T, a.heads, hs, a.repeats) for T in a.lengths for impl in ("sdpa", "reference")]


# ---------------------------------------------------------------- report

def print_report(res: dict[str, Any]) -> None:
    pk, m = res["matmul_peak"], res["model"]
    print(f"\nmatmul peak ({pk['threads']} threads, {pk['device']}): {peak_line(pk)}")
    print(f"model: decoder, {m['layers']} layers x {m['d_model']} wide, {m['heads']} heads, {m['positions']} positions, "
          f"seq {m['seq_len']}, batch {m['batch']}; {res['flops_per_token'] / 1e6:.1f} MFLOP per training token\n")
    print(f"{'training':<12}{'tokens/s':>12}{'s/step':>10}{'MFU':>8}")
    for r in res["training"]:
        print(f"{'bf16' if r['bf16'] else 'fp32':<12}{r['tokens_per_s']:>12.0f}{r['seconds_per_step']:>10.3f}{100 * r['mfu']:>7.1f}%")
    print(f"\n{'attention (causal, batch 1)':<30}{'forward ms':>12}{'fwd+bwd ms':>12}{'peak MiB':>10}")
    for r in res["attention"]:
        print(f"T={r['T']:<6} {r['impl']:<22}{r['forward_ms']:>12.2f}{r['forward_backward_ms']:>12.2f}{r['peak_extra_mib']:>10.1f}")
    best = max(r["mfu"] for r in res["training"])
    print(f"\n{'PASS' if best >= MFU_TARGET else 'FAIL'}  best training MFU >= {100 * MFU_TARGET:.0f}%: {100 * best:.1f}%")
    if res["environment"]["loadavg_1m_at_start"] > 1.0:
        print(f"WARNING: load average {res['environment']['loadavg_1m_at_start']:.1f} at start: other work was running, "
              "so the timings are not trustworthy")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small model, 5 timed steps, lengths 256-1024; writes pretrain-quick.json")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=8000, help="vocabulary size (ctxlearn pretrain's default)")
    ap.add_argument("--positions", default="rope", help="position encoding of the benchmarked model (default: rope)")
    ap.add_argument("--dropout", type=float, default=0.0, help="dropout while timing (default 0: model FLOPs only)")
    ap.add_argument("--steps", type=int, default=20, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    ap.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats per attention case (the fastest counts)")
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/pretrain[-quick].json)")
    a = ap.parse_args()
    if a.quick:
        a.d_model, a.layers, a.seq_len, a.batch, a.steps, a.warmup, a.lengths, a.repeats = 128, 2, 128, 8, 5, 2, [256, 512, 1024], 2
    return a


def main() -> None:
    a = parse_args()
    cfg = model_config(a)
    res: dict[str, Any] = {"benchmark": "pretrain", "quick": a.quick, "environment": environment(),
                           "model": {k: getattr(a, k) for k in ("d_model", "layers", "heads", "seq_len", "batch", "vocab", "positions", "dropout")}}
    res["matmul_peak"] = peak = matmul_peak(cfg, a.batch * a.seq_len)
    res["flops_per_token"] = fpt = flops_per_token(cfg, a.seq_len)
    res["training"] = [train_throughput(cfg, a, bf16) for bf16 in precisions(device())]
    for r in res["training"]:
        r["mfu"] = mfu(r["tokens_per_s"], fpt, peak["bf16" if r["bf16"] else "fp32"]["peak_gflops"])
    res["attention"] = attention_sweep(a)
    print_report(res)
    out = a.out or RESULTS / ("pretrain-quick.json" if a.quick else "pretrain.json")
    write_json(out, res)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
