"""The HTTP service: FastAPI routes around an engine and a batcher.

Routes: ``POST /v1/predict``, ``GET /healthz`` (the process answers), ``GET /readyz`` (the model is
loaded and warm), ``GET /metrics`` (Prometheus), ``GET /openapi.json`` and ``/docs``.
Every error is JSON ``{"error": kind, "message": text}``: 401 without the key, 413 beyond a size limit,
422 for a request that is not what the schema says, 429 (with ``Retry-After``) when the queue is full.
Plain ASGI middleware (outermost first): metrics of every response, the key check, admission (429 when
more requests are in flight than could be queued), the body size limit; so an unauthenticated, excess or
oversized request is refused before its body is read or parsed.
"""
from __future__ import annotations

import logging
import time
import traceback
from contextlib import asynccontextmanager
from typing import Any, Awaitable, Callable

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from ctxlearn.serve.auth import key_matches
from ctxlearn.serve.batcher import MicroBatcher, Overloaded, ShuttingDown
from ctxlearn.serve.config import ServeConfig
from ctxlearn.serve.engine import Engine, takes
from ctxlearn.serve.metrics import CLIENT_CLOSED, Metrics, error_kind
from ctxlearn.serve.schema import ErrorBody, PredictRequest

log = logging.getLogger("ctxlearn.serve")
PREDICT = "/v1/predict"
PROTECTED = {PREDICT, "/metrics"}
WARMUP = {"texts": ["warm-up"], "pairs": [("warm-up", "warm-up")], "tokens": [["warm-up"]]}
# One request of each kind, shown in errors so the client sees the shape the served model takes.
EXAMPLES = {"texts": '{"texts": ["a text", ...]}',
            "pairs": '{"pairs": [{"text": "a premise", "text_pair": "a hypothesis"}, ...]}',
            "tokens": '{"tokens": [["words", "of", "a", "sentence"], ...]}'}
ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error_kind(status), "message": message}, status, headers=headers)


# ---------------------------------------------------------------- ASGI middleware

class Observe:
    """Counts every response by status and error kind; times ``POST /v1/predict``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status, t0 = None, time.perf_counter()

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            status = status or 500  # the server sends its own 500 (a cancelled task, CancelledError, is a hang-up)
            raise
        finally:  # ended with no response: the client hung up mid-request (it was counted a 500, "internal")
            status = status or CLIENT_CLOSED
            self.metrics.response(status)
            if scope["path"] == PREDICT and status == 200:
                self.metrics.latency.observe(time.perf_counter() - t0)


class RequireKey:
    """401 for protected routes unless ``Authorization: Bearer <key>``; nothing of the body is read first."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app, self.key = app, key

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if self.key is not None and scope["type"] == "http" and scope["path"] in PROTECTED:
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not key_matches(header, self.key):
                response = error_response(401, "send the API key as `Authorization: Bearer <key>`",
                                          {"WWW-Authenticate": "Bearer"})
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


class Admit:
    """429 at once, before the body is read, when more predict requests are in flight than could be queued
    and running (``max_queue + max_batch_size``, each request holding at least one input): under overload
    the event loop's time goes to cheap refusals instead of parsing requests the queue would refuse."""

    def __init__(self, app: ASGIApp, limit: int, batcher: Any) -> None:
        self.app, self.limit, self.batcher, self.in_flight = app, limit, batcher, 0

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] != PREDICT:
            return await self.app(scope, receive, send)
        if self.in_flight >= self.limit:
            retry = self.batcher.retry_after()
            response = error_response(429, f"the server is at capacity; retry after {retry} s", {"Retry-After": str(retry)})
            return await response(scope, receive, send)
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class LimitBody:
    """413 for bodies over ``max_bytes``, by Content-Length or while reading; memory stays bounded."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        too_big = error_response(413, f"the request body is larger than {self.max_bytes} bytes (set by --max-texts "
                                      "and --max-chars); split it into smaller requests")
        if not declared.isdigit():
            return await error_response(400, "the Content-Length header is not a number")(scope, receive, send)
        if int(declared) > self.max_bytes:
            return await too_big(scope, receive, send)
        chunks, size, message = [], 0, {"more_body": True}
        while message.get("more_body"):
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await too_big(scope, receive, send)
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Callable) -> Callable:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


# ---------------------------------------------------------------- errors

def describe_validation(errors: list[dict[str, Any]], kinds: tuple[str, ...] = ("texts",), shown: int = 5) -> str:
    """Pydantic errors as one line each, naming the field (``texts.2``), without echoing the input, then
    an example of each request the model takes (``kinds``: ``takes(engine)``)."""
    parts = []
    for e in errors[:shown]:
        if e["type"] == "json_invalid":
            parts.append(f"the body is not valid JSON ({e.get('ctx', {}).get('error', 'parse error')} "
                         f"at character {e['loc'][-1]})")
            continue
        where = ".".join(str(x) for x in e["loc"] if x != "body") or "body"
        parts.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
    more = f"; and {len(errors) - shown} more" if len(errors) > shown else ""
    return "; ".join(parts) + more + f". Expected e.g. {' or '.join(EXAMPLES[kind] for kind in kinds)}"


def install_error_handlers(app: FastAPI, log_texts: bool, kinds: tuple[str, ...]) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        message = describe_validation(list(err.errors()), kinds)
        if "json" not in request.headers.get("content-type", ""):  # curl -d sends form encoding unless told
            message += "; the request was not sent as JSON: add the header `Content-Type: application/json`"
        return error_response(422, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        routing = {404: f"no such path {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}"}
        message = str(err.detail)
        if err.status_code in routing and message in {"Not Found", "Method Not Allowed"}:
            message = routing[err.status_code] + f"; the API is POST {PREDICT} (see /docs)"
        if isinstance(err.__cause__, UnicodeDecodeError):  # FastAPI's "There was an error parsing the body"
            bad = err.__cause__
            return error_response(422, f"the body is not UTF-8 (byte {bad.object[bad.start]:#04x} at byte "
                                       f"{bad.start}): send the JSON encoded as UTF-8. Expected e.g. "
                                       + " or ".join(EXAMPLES[kind] for kind in kinds))
        return error_response(err.status_code, message, getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def crash(_: Request, err: Exception) -> JSONResponse:
        return internal_error(err, log_texts)


def internal_error(err: BaseException, log_texts: bool) -> JSONResponse:
    """A 500 whose log holds the frames, and the message only when texts may be logged: a model's error
    message can quote the input."""
    detail = "".join(traceback.format_exception(err)) if log_texts else "".join(traceback.format_tb(err.__traceback__))
    log.error("internal error %s\n%s", type(err).__name__, detail)
    return error_response(500, "internal error; the server log has the details")


# ---------------------------------------------------------------- checks on a parsed request

def check_request(req: PredictRequest, engine: Engine, cfg: ServeConfig) -> list:
    """The request's inputs, after the checks that depend on the model and the server's limits."""
    if req.kind not in takes(engine):
        raise HTTPException(422, f"this model takes {_kinds(engine)}, but the request sent `{req.kind}`; "
                                 f"send e.g. {EXAMPLES[engine.accepts]} instead")
    items = req.items()
    if len(items) > cfg.max_texts:
        raise HTTPException(413, f"{req.kind}: {len(items)} inputs, more than the limit of {cfg.max_texts} per "
                                 "request (--max-texts); split them over several requests")
    for i, item in enumerate(items):
        for where, text in _texts(req.kind, i, item):
            if len(text) > cfg.max_chars:
                raise HTTPException(413, f"{where}: {len(text)} characters, more than the limit of {cfg.max_chars} "
                                         "(--max-chars); shorten it, or start the server with a larger --max-chars")
    return items


def _kinds(engine: Engine) -> str:
    return " or ".join(f"`{kind}`" for kind in takes(engine))


def _texts(kind: str, i: int, item: Any) -> list[tuple[str, str]]:
    if kind == "pairs":
        return [(f"pairs.{i}.text", item[0]), (f"pairs.{i}.text_pair", item[1])]
    if kind == "tokens":
        return [(f"tokens.{i}", " ".join(item))]
    return [(f"texts.{i}", item)]


# ---------------------------------------------------------------- the app

ERRORS = {code: {"model": ErrorBody, "description": what} for code, what in (
    (400, "the body could not be parsed"), (401, "missing or wrong API key"), (413, "too many inputs, a text too long, or a body too large"),
    (422, "the body is not a valid request (the message says which field and why)"),
    (429, "the queue is full; retry after the `Retry-After` seconds"), (503, "the server is shutting down"))}


def build_app(engine: Engine, cfg: ServeConfig, key: str | None = None, runner: type = MicroBatcher) -> FastAPI:
    """The service for one engine. ``runner`` = ``Unbatched`` gives the per-request baseline of bench/serve.py."""
    metrics = Metrics()
    batcher = runner(engine.run, max_batch_size=cfg.max_batch_size, max_wait_ms=cfg.max_wait_ms,
                     max_queue=cfg.max_queue, metrics=metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        await batcher.call(lambda: engine.run(WARMUP[engine.accepts]))  # loads lazy models; first request is not slow
        app.state.ready = True
        log.info("ready: %s takes %s (batches of up to %d, queue %d)", engine.name, _kinds(engine),
                 cfg.max_batch_size, cfg.max_queue)
        try:
            yield
        finally:
            app.state.ready = False
            await batcher.stop()  # uvicorn has already waited for requests in flight; this finishes queued work

    app = FastAPI(title="ctxlearn", summary=f"predictions from {engine.name}", lifespan=lifespan)
    app.state.ready, app.state.batcher, app.state.metrics = False, batcher, metrics
    install_error_handlers(app, cfg.log_texts, takes(engine))
    secured = [Depends(HTTPBearer(auto_error=False, description="the server's API key"))] if key else []

    @app.post(PREDICT, response_model=engine.response_model, responses=ERRORS, dependencies=secured,
              description=f"Predict for up to {cfg.max_texts} inputs of at most {cfg.max_chars} characters each. "
                          f"This model takes {_kinds(engine)}.")
    async def predict(req: PredictRequest) -> Any:
        items = check_request(req, engine, cfg)
        if cfg.log_texts:
            log.info("predict %s: %r", req.kind, items)
        try:
            outputs = await batcher.submit(items)
        except Overloaded as err:
            raise HTTPException(429, str(err), headers={"Retry-After": str(err.retry_after)}) from None
        except ShuttingDown:
            raise HTTPException(503, "the server is shutting down; retry on another instance") from None
        except Exception as err:  # answered here: past the route, Starlette re-raises it and uvicorn logs its message
            return internal_error(err, cfg.log_texts)
        return {"model": engine.name, "predictions": outputs}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": ErrorBody, "description": "loading or shutting down"}})
    async def readyz() -> Any:
        if not app.state.ready:
            return error_response(503, "not ready: the model is loading or the server is shutting down")
        rule = getattr(engine, "threshold", None)  # a client can see how labels are decided, not only that
        return {"status": "ready", "model": engine.name, "queue": getattr(batcher, "waiting", 0),
                **({"threshold": {"label": rule.label, "value": rule.value}} if rule else {})}

    @app.get("/metrics", dependencies=secured, response_class=Response,
             responses={200: {"content": {metrics.content_type: {}}, "description": "Prometheus text format"},
                        401: ERRORS[401]})
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    app.add_middleware(LimitBody, max_bytes=cfg.max_body_bytes)
    app.add_middleware(Admit, limit=cfg.max_queue + cfg.max_batch_size, batcher=batcher)
    app.add_middleware(RequireKey, key=key)
    app.add_middleware(Observe, metrics=metrics)
    return app
