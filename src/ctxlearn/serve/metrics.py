"""Prometheus metrics of one server, in a registry of its own (so several apps can live in one process)."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# HTTP status -> the error kind counted and returned in the body's ``error`` field.
ERROR_KINDS = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "overloaded",
               499: "client_closed", 500: "internal", 503: "unavailable"}
CLIENT_CLOSED = 499  # nginx's code for a request whose client went away before any response: none was sent


def error_kind(status: int) -> str:
    return ERROR_KINDS.get(status, "client_error" if status < 500 else "server_error")


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.latency = Histogram("ctxlearn_request_seconds", "POST /v1/predict latency, queueing included", registry=r,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.batch_size = Histogram("ctxlearn_batch_size", "inputs per model batch", registry=r,
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.model_seconds = Histogram("ctxlearn_batch_seconds", "model time per batch", registry=r,
                                       buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
        self.queue_depth = Gauge("ctxlearn_queue_depth", "inputs waiting for the model", registry=r)
        self.requests = Counter("ctxlearn_requests", "HTTP responses by status code", ["status"], registry=r)
        self.errors = Counter("ctxlearn_errors", "error responses by kind", ["kind"], registry=r)

    def response(self, status: int) -> None:
        self.requests.labels(str(status)).inc()
        if status >= 400:
            self.errors.labels(error_kind(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
