"""``ctxlearn serve``: an HTTP prediction service with micro-batching, limits, auth and metrics.

config (ServeConfig) -> engine (artifact behind ``run(items)``) -> batcher (MicroBatcher) -> app (FastAPI
routes and ASGI middleware) -> cli (uvicorn). FastAPI is imported only by ``app`` and ``cli``.
"""
