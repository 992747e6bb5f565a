"""Serving benchmark: `ctxlearn serve` against a per-request transformers pipeline behind the same FastAPI app.

Each server runs as its own process on loopback; this process is the load generator, so the client's
CPU is not counted as the server's (both share this machine's cores, as they would on one host).
  ours      `python -m ctxlearn serve ARTIFACT` (micro-batching, bounded queue; the artifact's own precision)
  baseline  the same FastAPI app (`serve.app.build_app`, runner `Unbatched`) around transformers
            `pipeline("text-classification")` on the artifact's backbone and head weights, called once per
            request on the thread pool: the usual way to put a model behind FastAPI. Its pooling is the
            pipeline's (CLS + pooler), so its labels differ from ours: it measures the serving path's cost.
Phases, each bounded in time (the script stops by itself):
  1. sustained: --clients concurrent clients send one SST-2 test sentence per request, back to back, for
     --seconds, to ours then to the baseline; throughput, p50/p99 latency, responses by status;
  2. overload (ours): requests arrive open-loop at --overload-factor x ours' sustained throughput for
     --overload-seconds; only 200 and 429 may come back; the server's RSS is sampled throughout.
Prints a table, the ratio and PASS/FAIL lines; writes bench/results/serve.json (serve-quick.json when
--seconds < 60). Needs an otherwise idle machine: timings of a shared machine are only indicative.

  python bench/serve.py --artifact /tmp/serve-art                       # the full run: about 4 minutes
  python bench/serve.py --artifact /tmp/serve-art --seconds 5 --clients 4 --threads 1   # a smoke run
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune import environment, write_json  # noqa: E402  (bench/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATA = ROOT.parent / "shared" / "data" / "sst2"
TARGET_RATIO, RSS_GROWTH_LIMIT = 3.0, 1.25  # ours >= 3x baseline; overload peak RSS <= 1.25x sustained peak


# ---------------------------------------------------------------- the baseline server (run in its own process)

class PipelineEngine:
    """transformers `pipeline("text-classification")` with the artifact's backbone and head weights."""

    accepts = "texts"

    def __init__(self, folder: Path) -> None:
        import torch
        from safetensors.torch import load_file
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

        from ctxlearn.artifact import read_manifest
        from ctxlearn.serve.schema import ClassifyResponse

        manifest = read_manifest(folder)
        labels = json.loads((folder / "labels.json").read_text())
        backbone = folder / "backbone" if (folder / "backbone").is_dir() else manifest["model_source"]["path"]
        model = AutoModelForSequenceClassification.from_pretrained(
            backbone, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
        head = load_file(str(folder / "head.safetensors"))
        with torch.no_grad():
            model.classifier.weight.copy_(head["weight"])
            model.classifier.bias.copy_(head["bias"])
        self.pipe = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(folder / "tokenizer"),
                             top_k=None, device=-1)
        self.name, self.labels, self.response_model = f"pipeline:{folder.name}", labels, ClassifyResponse

    def run(self, items: list) -> list[dict[str, Any]]:
        out = []
        for scores in self.pipe(items, truncation=True, max_length=128):
            probs = {s["label"]: float(s["score"]) for s in scores}
            out.append({"label": max(probs, key=probs.get), "probabilities": probs})
        return out


def serve_baseline(folder: Path, port: int, threads: int) -> None:
    import torch
    import uvicorn

    from ctxlearn.serve.app import build_app
    from ctxlearn.serve.batcher import Unbatched
    from ctxlearn.serve.config import ServeConfig

    if threads:
        torch.set_num_threads(threads)
    app = build_app(PipelineEngine(folder), ServeConfig(port=port), runner=Unbatched)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# ---------------------------------------------------------------- servers as processes

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(which: str, artifact: Path, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = ([sys.executable, "-m", "ctxlearn", "serve", str(artifact), "--port", str(port), "--threads", str(threads)]
           if which == "ours" else [sys.executable, __file__, "--serve-baseline", str(artifact), "--port", str(port),
                                    "--threads", str(threads)])
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"} | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{which} server did not become ready: {' '.join(cmd)}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------- load

HEAD = b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


class Conn:
    """One keep-alive HTTP/1.1 connection sending prebuilt POSTs. Written by hand (not httpx) because the
    load generator shares this machine's cores with the server under test: httpx's per-request CPU would
    throttle the server and be measured as its slowness."""

    # uvicorn closes keep-alive connections idle for 5 s; reusing one then reads EOF, which is the
    # client's mistake, not a server answer. Like a pooled HTTP client, reopen connections idle > 4 s.
    IDLE_S = 4.0

    def __init__(self, port: int) -> None:
        self.port, self.reader, self.writer, self.last = port, None, None, 0.0

    async def post(self, body: bytes) -> int:
        if self.writer is not None and time.monotonic() - self.last > self.IDLE_S:
            self.close()
        self.last = time.monotonic()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(HEAD % len(body) + body)
        status = int((await self.reader.readline()).split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            close |= name.lower() == b"connection" and value.strip().lower() == b"close"
        await self.reader.readexactly(length)
        self.last = time.monotonic()
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Tally:
    """Statuses, latencies of successes, and RSS samples of one phase."""

    def __init__(self) -> None:
        self.status: Counter = Counter()
        self.latency: list[float] = []
        self.rss: list[float] = []

    def summary(self, seconds: float) -> dict[str, Any]:
        ok = self.status.get("200", 0)
        lat = np.array(self.latency) * 1000 if self.latency else np.zeros(1)
        return {"seconds": round(seconds, 2), "requests": sum(self.status.values()), "ok": ok,
                "throughput_rps": round(ok / seconds, 1), "p50_ms": round(float(np.percentile(lat, 50)), 1),
                "p99_ms": round(float(np.percentile(lat, 99)), 1), "status": dict(self.status),
                "peak_rss_mb": round(max(self.rss, default=0.0), 1)}


async def one(conn: Conn, body: bytes, tally: Tally) -> None:
    t0 = time.perf_counter()
    try:
        status = await asyncio.wait_for(conn.post(body), 60)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as err:
        conn.close()
        tally.status[type(err).__name__] += 1
        return
    tally.status[str(status)] += 1
    if status == 200:
        tally.latency.append(time.perf_counter() - t0)


async def sample_rss(pid: int, tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        tally.rss.append(rss_mb(pid))
        await asyncio.sleep(0.25)


async def closed_loop(port: int, pid: int, bodies: list[bytes], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` connections, each sending its next request as soon as its last one is answered."""
    tally, until = Tally(), time.monotonic() + seconds

    async def client(k: int) -> None:
        conn, i = Conn(port), k
        while time.monotonic() < until:
            await one(conn, bodies[i % len(bodies)], tally)
            i += clients
        conn.close()

    t0 = time.monotonic()
    await asyncio.gather(sample_rss(pid, tally, until), *(client(k) for k in range(clients)))
    return tally.summary(time.monotonic() - t0)


async def open_loop(port: int, pid: int, bodies: list[bytes], rate: float, seconds: float) -> dict[str, Any]:
    """Requests arrive at ``rate`` per second whatever the answers: a real overload, which only shedding
    (429) keeps bounded. Each uses an idle connection or opens one; at most 2048 are outstanding (counted
    as client_backlog_full beyond that)."""
    tally, until, idle, pending = Tally(), time.monotonic() + seconds, [], set()

    async def arrival(body: bytes) -> None:
        conn = idle.pop() if idle else Conn(port)
        await one(conn, body, tally)
        idle.append(conn)

    rss = asyncio.create_task(sample_rss(pid, tally, until + 60))
    t0, sent = time.monotonic(), 0
    while (now := time.monotonic()) < until:
        for _ in range(int((now - t0) * rate) - sent):
            if len(pending) >= 2048:
                tally.status["client_backlog_full"] += 1
            else:
                task = asyncio.create_task(arrival(bodies[sent % len(bodies)]))
                pending.add(task)
                task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.sleep(0.001)
    await asyncio.gather(*pending)
    elapsed = time.monotonic() - t0
    rss.cancel()
    for conn in idle:
        conn.close()
    return {**tally.summary(elapsed), "offered_rps": round(sent / seconds, 1)}


# ---------------------------------------------------------------- the benchmark

def request_bodies(artifact: Path) -> list[bytes]:
    """One request body per SST-2 test sentence (the artifact's own test file when its manifest names one)."""
    manifest = json.loads((artifact / "manifest.json").read_text())
    test = Path(manifest.get("data_sources", {}).get("test", DATA / "test.jsonl"))
    return [json.dumps({"texts": [json.loads(line)["text"]]}).encode() for line in test.read_text().splitlines()]


def measure(which: str, artifact: Path, bodies: list[bytes], a: argparse.Namespace) -> dict[str, Any]:
    proc, url = start(which, artifact, a.threads)
    port = int(url.rsplit(":", 1)[1])
    try:
        asyncio.run(closed_loop(port, proc.pid, bodies, a.clients, min(2.0, a.seconds)))  # warm-up, not counted
        res = {"sustained": asyncio.run(closed_loop(port, proc.pid, bodies, a.clients, a.seconds))}
        print(f"{which:<9}{row(res['sustained'])}", flush=True)
        if which == "ours":
            rate = a.overload_factor * res["sustained"]["throughput_rps"]
            res["overload"] = asyncio.run(open_loop(port, proc.pid, bodies, rate, a.overload_seconds))
            print(f"{'overload':<9}{row(res['overload'])}  offered {res['overload']['offered_rps']:.0f} req/s", flush=True)
            res["server_metrics"] = server_metrics(httpx.get(f"{url}/metrics").text)
            print(f"{'':9}mean batch {res['server_metrics']['mean_batch_size']:.1f} inputs, "
                  f"{res['server_metrics']['mean_batch_ms']:.1f} ms of model time each (both phases)", flush=True)
        res["peak_rss_mb_hwm"] = round(float(next(l.split()[1] for l in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                                                  if l.startswith("VmHWM:"))) / 1024, 1)
        return res
    finally:
        stop(proc)


def server_metrics(text: str) -> dict[str, Any]:
    """Batch sizes, model time and errors by kind from the server's own /metrics."""
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    n = max(values.get("ctxlearn_batch_size_count", 0.0), 1.0)
    return {"batches": int(values.get("ctxlearn_batch_size_count", 0)), "mean_batch_size": values.get("ctxlearn_batch_size_sum", 0) / n,
            "mean_batch_ms": 1000 * values.get("ctxlearn_batch_seconds_sum", 0) / n,
            "errors": {k: v for k, v in values.items() if k.startswith("ctxlearn_errors_total")}}


def row(r: dict[str, Any]) -> str:
    status = " ".join(f"{k}:{v}" for k, v in sorted(r["status"].items()))
    return (f"{r['throughput_rps']:>9.1f} req/s  p50 {r['p50_ms']:>7.1f} ms  p99 {r['p99_ms']:>7.1f} ms  "
            f"RSS {r['peak_rss_mb']:>6.0f} MB  [{status}]")


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    ours, base, over = res["ours"]["sustained"], res["baseline"]["sustained"], res["ours"]["overload"]
    errors = {k: v for k, v in ours["status"].items() if k != "200"}
    bad_overload = {k: v for k, v in over["status"].items() if k not in {"200", "429"}}
    growth = over["peak_rss_mb"] / max(ours["peak_rss_mb"], 1e-9)
    return [
        {"target": f"ours >= {TARGET_RATIO}x baseline throughput", "value": res["ratio"], "pass": res["ratio"] >= TARGET_RATIO},
        {"target": "zero errors under sustained load (ours)", "value": sum(errors.values()), "pass": not errors},
        {"target": "overload: only 200 and 429, some 429", "value": sum(bad_overload.values()),
         "pass": not bad_overload and over["status"].get("429", 0) > 0},
        {"target": f"overload peak RSS <= {RSS_GROWTH_LIMIT}x sustained peak", "value": round(growth, 3),
         "pass": growth <= RSS_GROWTH_LIMIT},
    ]


def train_artifact(work: Path) -> Path:
    from ctxlearn.config import TrainConfig
    from ctxlearn.train.run import run_training

    print("no --artifact: training a MiniLM `head` classifier on SST-2 (about 30 s)", flush=True)
    return Path(run_training(TrainConfig(data=str(DATA), model="minilm", method="head", out=str(work / "art")))["out"])


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifact", type=Path, help="a classifier run folder (default: train MiniLM head on SST-2 first)")
    ap.add_argument("--seconds", type=float, default=60.0, help="sustained-load seconds per server (default 60)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients in the sustained phase (default 16)")
    ap.add_argument("--overload-factor", type=float, default=4.0, help="overload arrival rate / ours' sustained throughput")
    ap.add_argument("--overload-seconds", type=float, default=None, help="overload seconds (default: half of --seconds, at least 5)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads in each server (default 0: each server's own "
                                                          "default, one per core, as deployed; 1 on a shared machine)")
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default bench/results/serve.json; serve-quick.json "
                                                          "when --seconds < 60)")
    ap.add_argument("--serve-baseline", type=Path, help=argparse.SUPPRESS)  # internal: run the baseline server
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.overload_seconds = a.overload_seconds or max(5.0, a.seconds / 2)
    return a


def main() -> None:
    a = parse_args()
    if a.serve_baseline:
        return serve_baseline(a.serve_baseline, a.port, a.threads)
    out = a.out or RESULTS / ("serve.json" if a.seconds >= 60 else "serve-quick.json")
    with tempfile.TemporaryDirectory(prefix="ctxlearn-bench-") as tmp:
        artifact = a.artifact or train_artifact(Path(tmp))
        bodies = request_bodies(artifact)
        res: dict[str, Any] = {"benchmark": "serve", "artifact": str(artifact), "environment": environment(),
                               "settings": {k: v for k, v in vars(a).items() if k not in {"serve_baseline", "port"}} | {
                                   "artifact": str(artifact), "out": str(out)}}
        print(f"{'server':<9}{'throughput':>15}  latency (successes)             peak RSS  [responses by status]")
        res["ours"] = measure("ours", artifact, bodies, a)
        res["baseline"] = measure("baseline", artifact, bodies, a)
    res["ratio"] = round(res["ours"]["sustained"]["throughput_rps"] / max(res["baseline"]["sustained"]["throughput_rps"], 1e-9), 2)
    res["targets"] = targets(res)
    print(f"\nthroughput ratio ours / baseline: {res['ratio']:.2f}x")
    for t in res["targets"]:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['value']}")
    if res["environment"]["loadavg_1m_at_start"] > 1.0:
        print(f"WARNING: load average {res['environment']['loadavg_1m_at_start']:.1f} at start; timings are not trustworthy")
    write_json(out, res)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
