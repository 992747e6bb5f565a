"""Micro-batching: requests that arrive together run through the model as one batch.

Requests queue as jobs (their inputs and a future). One asyncio task takes jobs off the queue until the
batch holds ``max_batch_size`` inputs or ``max_wait_ms`` have passed since its first job arrived, then
runs the model on a single worker thread, so the event loop keeps accepting (and queueing) requests
while the model computes. While it computes, the next batch fills: under load batches are full and
nobody waits for the timer. A request of more inputs than ``max_batch_size`` queues as several jobs of at
most that many, so no model call runs more (an int8 model's answers can change with its batch, and
``--max-batch-size 1`` is how a server makes each answer its own). The queue is bounded in inputs; a
request that would overflow it is refused at once (``Overloaded``, a 429) instead of waiting without limit.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger("ctxlearn.serve")
Run = Callable[[list], list]


class Overloaded(Exception):
    """The queue is full; ``retry_after`` is the estimated seconds until it has drained."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is at capacity; retry after {retry_after} s")
        self.retry_after = retry_after


class ShuttingDown(Exception):
    """The server is draining and takes no new work."""


@dataclass
class _Job:
    items: list
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    def __init__(self, run: Run, max_batch_size: int = 32, max_wait_ms: float = 5.0, max_queue: int = 256,
                 metrics: Any = None) -> None:
        self.run, self.metrics = run, metrics
        self.max_batch_size, self.max_wait, self.max_queue = max_batch_size, max_wait_ms / 1000, max_queue
        self._jobs: deque[_Job] = deque()
        self.waiting = 0  # inputs in queued jobs
        self._rate = 0.0  # inputs per second the model has been doing (moving average), for Retry-After
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ctxlearn-model")
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closing = False

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="ctxlearn-batcher")

    async def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the model thread (warm-up, anything that must not overlap a batch)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def submit(self, items: list) -> list:
        """The model's outputs for ``items``, once their batches have run (``max_batch_size`` inputs a job)."""
        if self._closing or self._task is None:
            raise ShuttingDown()
        if self.waiting + len(items) > self.max_queue:
            raise Overloaded(self.retry_after())
        loop, size = asyncio.get_running_loop(), self.max_batch_size
        jobs = [_Job(items[i:i + size], loop.create_future()) for i in range(0, max(len(items), 1), size)]
        for job in jobs:
            self._jobs.append(job)
            self._queued(len(job.items))
        self._wake.set()
        try:
            return [out for job in jobs for out in await job.future]
        except BaseException:  # a client that goes away cancels this, or a batch failed: the rest are skipped
            for job in jobs:
                job.future.cancel()
            raise

    def retry_after(self) -> int:
        return max(1, math.ceil(self.waiting / self._rate)) if self._rate else 1

    async def stop(self) -> None:
        """Finish every queued job, then stop the worker."""
        self._closing = True
        if self._task is not None:
            self._wake.set()
            await self._task
        self._executor.shutdown(wait=True)

    def _queued(self, n: int) -> None:
        self.waiting += n
        if self.metrics is not None:
            self.metrics.queue_depth.set(self.waiting)

    async def _loop(self) -> None:
        while self._jobs or not self._closing:
            if not self._jobs:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = await self._collect()
            if batch:
                await self._run(batch)

    async def _collect(self) -> list[_Job]:
        """Jobs for one batch: whole jobs (none holds more than a batch), first come first served, until the
        batch is full, the next job does not fit, or the first job has waited ``max_wait``."""
        deadline = self._jobs[0].arrived + self.max_wait
        batch: list[_Job] = []
        size = 0
        while True:
            while self._jobs and (not batch or size + len(self._jobs[0].items) <= self.max_batch_size):
                job = self._jobs.popleft()
                self._queued(-len(job.items))
                if not job.future.done():  # done = cancelled: its client has gone
                    batch.append(job)
                    size += len(job.items)
            remaining = deadline - time.perf_counter()
            if self._jobs or size >= self.max_batch_size or remaining <= 0 or self._closing:
                return batch
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def _run(self, batch: list[_Job]) -> None:
        items = [it for job in batch for it in job.items]
        t0 = time.perf_counter()
        try:
            outputs = await self.call(lambda: _no_stop_iteration(self.run, items))
        except Exception as err:  # the model failed: every request in the batch gets the error, the loop lives on
            log.error("model failed on a batch of %d inputs: %s", len(items), type(err).__name__)
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(err)
            return
        seconds = time.perf_counter() - t0
        self._rate = len(items) / seconds if not self._rate else 0.8 * self._rate + 0.2 * len(items) / seconds
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(items))
            self.metrics.model_seconds.observe(seconds)
        log.debug("batch of %d inputs from %d requests in %.1f ms", len(items), len(batch), 1000 * seconds)
        start = 0
        for job in batch:
            if not job.future.done():
                job.future.set_result(outputs[start:start + len(job.items)])
            start += len(job.items)


class Unbatched:
    """What a plain FastAPI endpoint does, for comparison (bench/serve.py): every request calls the model
    itself on the thread pool, concurrently, with no queue bound."""

    def __init__(self, run: Run, **_: Any) -> None:
        self.run = run

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def call(self, fn: Callable[[], Any]) -> Any:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(fn)

    async def submit(self, items: list) -> list:
        return await self.call(lambda: self.run(items))

    def retry_after(self) -> int:
        return 1


def _no_stop_iteration(run: Callable[[list], list], items: list) -> list:
    """``run(items)``, with StopIteration turned into RuntimeError: asyncio cannot set StopIteration on a
    future, so the awaiting batch loop would wait forever and the queue would never run again."""
    try:
        return run(items)
    except StopIteration as err:
        raise RuntimeError(f"the model raised StopIteration: {err!r}") from err
