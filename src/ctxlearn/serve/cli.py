"""``ctxlearn serve ARTIFACT``: load the artifact, check the settings, run uvicorn until SIGINT/SIGTERM."""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any

from ctxlearn.errors import ConfigError


def add_parser(sub: Any) -> None:
    from ctxlearn.cli import add_dataclass_flags
    from ctxlearn.serve.config import ServeConfig

    p = sub.add_parser("serve", help="serve a run folder over HTTP (POST /v1/predict, /metrics, /healthz)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Serve predictions from a run folder (trained, exported or icl) with micro-batching, "
                                   "a bounded queue (429 when full), size limits, an optional API key and Prometheus "
                                   "metrics. SIGTERM or Ctrl-C drains requests in flight, then exits. Example:\n"
                                   "  ctxlearn serve runs/x --port 8000\n"
                                   "  curl -s localhost:8000/v1/predict -H 'content-type: application/json' "
                                   "-d '{\"texts\": [\"a fine film\"]}'")
    p.add_argument("artifact", help="run folder written by `ctxlearn train`, `ctxlearn icl` or `ctxlearn export`")
    add_dataclass_flags(p, ServeConfig)
    p.set_defaults(func=cmd_serve)


def serve_config(args: argparse.Namespace):
    from ctxlearn.serve.config import ServeConfig

    names = {f.name for f in dataclasses.fields(ServeConfig)}
    return ServeConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def cmd_serve(args: argparse.Namespace) -> int:
    import torch
    import uvicorn

    from ctxlearn.serve.app import build_app
    from ctxlearn.serve.auth import check_exposure, key_file_is_private, read_key
    from ctxlearn.serve.engine import open_engine

    cfg = serve_config(args)
    key = read_key(cfg.api_key_file) if cfg.api_key_file else None
    check_exposure(cfg.host, key)  # before the minutes a model can take to load
    sock = bound_socket(cfg.host, cfg.port)  # so is a port in use
    if key and not key_file_is_private(cfg.api_key_file):
        print(f"ctxlearn: warning: {cfg.api_key_file} is readable by other users; chmod 600 it", file=sys.stderr)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if note := batch_dependence(Path(args.artifact), cfg.max_batch_size):
        print(f"ctxlearn: warning: {note}", file=sys.stderr)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = build_app(open_engine(args.artifact, cfg.threshold), cfg, key)
    server = uvicorn.Server(uvicorn.Config(app, host=cfg.host, port=cfg.port, timeout_graceful_shutdown=cfg.drain_seconds,
                                           log_level="info", server_header=False))
    host, port = f"[{cfg.host}]" if ":" in cfg.host else cfg.host, sock.getsockname()[1]  # --port 0: the one taken
    logging.getLogger("ctxlearn.serve").info("listening on http://%s:%d (Ctrl+C stops it)", host, port)
    server.run(sockets=[sock])  # returns after a graceful shutdown
    return 0


def batch_dependence(folder: Path, max_batch_size: int) -> str | None:
    """Where ``folder`` is an int8 export whose labels changed with the batch at export (dynamic int8 scales a
    batch's activations together, so a text's answer can depend on the requests batched with it), and batches
    may hold several requests: what to say of it. None otherwise."""
    record = folder / "export.json"
    try:
        share = json.loads(record.read_text())["measured"]["int8"]["batch_sensitivity"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if max_batch_size <= 1 or not share.get("share"):
        return None
    return (f"{folder} is an int8 export, and {100 * share['share']:.1f}% of its test {share.get('of', 'labels')} "
            f"changed between batch sizes 1 and 32 ({record}): an answer can depend on the requests batched with "
            "it; --max-batch-size 1 makes each answer its own, at some cost in throughput")


def bound_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound (and listening: early requests wait) before the model loads; uvicorn binds
    after it, so a port in use was said only once the load was done, in uvicorn's words."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as err:
        raise ConfigError(f"--host {host}: no such host ({err.strerror}); use an address of this machine, such as "
                          "127.0.0.1") from None
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ConfigError(f"--port {port}: {host}:{port} is in use by another server; stop it, or pick another "
                              "--port (0 takes a free one)") from None
        raise ConfigError(f"--host {host} --port {port}: cannot listen there ({err.strerror})") from None
    sock.listen(2048)  # uvicorn's default backlog
    return sock
