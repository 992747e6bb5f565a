"""Serving test helpers: a fake engine whose speed and failures a test sets, apps around engines, and a
real uvicorn on a free loopback port."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import uvicorn

from ctxlearn.serve.app import build_app
from ctxlearn.serve.config import ServeConfig
from ctxlearn.serve.schema import ClassifyResponse

KEY = "test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


class FakeEngine:
    """Labels inputs 'long' (over 5 characters) or 'short'; sleeps ``delay`` per batch; fails on 'boom'.
    Records each batch's size and whether one is running. While ``released`` is clear, a batch waits on the
    model until the test sets it, so a test can keep the model busy for as long as it needs, however slow
    the machine is."""

    name, response_model = "fake", ClassifyResponse

    def __init__(self, delay: float = 0.0, accepts: str = "texts") -> None:
        self.delay, self.accepts = delay, accepts
        self.batches: list[int] = []
        self.running = threading.Event()
        self.released = threading.Event()
        self.released.set()

    def run(self, items: list) -> list[dict[str, Any]]:
        self.running.set()
        self.batches.append(len(items))
        assert self.released.wait(60), "the test never released the held model"
        time.sleep(self.delay)
        if "boom" in items:
            raise RuntimeError("boom")
        return [{"label": "long" if len(str(x)) > 5 else "short",
                 "probabilities": {"long": float(len(str(x)) > 5), "short": float(len(str(x)) <= 5)}} for x in items]


@contextmanager
def live(app: Any, drain_seconds: float = 10.0) -> Iterator[tuple[str, uvicorn.Server]]:
    """uvicorn serving ``app`` from a thread on 127.0.0.1:<free port>; stopped (gracefully) on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=drain_seconds))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", server
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def wait_for(condition: Callable[[], bool], seconds: float = 30.0, what: str = "condition") -> None:
    """Polls ``condition`` every 10 ms; fails the test after ``seconds`` instead of spinning forever."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {seconds:.0f} s waiting for {what}"
        time.sleep(0.01)


def app_for(engine: Any, key: str | None = KEY, **settings: Any):
    return build_app(engine, ServeConfig(**settings), key)
