"""The micro-batcher on its own: how it groups requests, bounds its queue, survives failures and drains."""
from __future__ import annotations

import asyncio
import time

import pytest

from ctxlearn.serve.batcher import MicroBatcher, Overloaded, ShuttingDown
from ctxlearn.serve.engine import length_groups
from serve_fixtures import FakeEngine


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def started(engine: FakeEngine, **settings) -> MicroBatcher:
    batcher = MicroBatcher(engine.run, **settings)
    await batcher.start()
    return batcher


@pytest.mark.parametrize("jobs, max_batch, expected", [
    ([["a"]] * 6, 4, [4, 2]),  # full batches first, the rest after the wait
    ([["a", "b", "c"], ["d", "e"], ["f"]], 4, [3, 3]),  # whole jobs only: 3 + 2 would not fit, 2 + 1 does
    ([["a"] * 9], 4, [4, 4, 1]),  # a request bigger than a batch is split: no model call runs more than 4
])
def test_requests_arriving_together_share_batches(jobs, max_batch, expected) -> None:
    async def go() -> list[list]:
        engine = FakeEngine()
        batcher = await started(engine, max_batch_size=max_batch, max_wait_ms=50)
        out = await asyncio.gather(*(batcher.submit(job) for job in jobs))
        await batcher.stop()
        assert engine.batches == expected
        return out

    out = run(go())
    assert [[o["label"] for o in result] for result in out] == [["short"] * len(job) for job in jobs], "outputs in order"


def test_a_lone_request_waits_at_most_max_wait() -> None:
    async def go() -> float:
        batcher = await started(FakeEngine(), max_batch_size=32, max_wait_ms=30)
        t0 = time.perf_counter()
        await batcher.submit(["a"])
        elapsed = time.perf_counter() - t0
        await batcher.stop()
        return elapsed

    assert 0.025 <= run(go()) < 0.5


def test_full_queue_refuses_with_retry_after_and_frees_up() -> None:
    async def go() -> None:
        engine = FakeEngine(delay=0.2)
        batcher = await started(engine, max_batch_size=2, max_wait_ms=0, max_queue=4)
        first = asyncio.create_task(batcher.submit(["a", "b"]))
        await asyncio.sleep(0.05)  # the first job is on the model; the queue is empty again
        queued = [asyncio.create_task(batcher.submit(["c", "d"])), asyncio.create_task(batcher.submit(["e", "f"]))]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as err:
            await batcher.submit(["g"])
        assert err.value.retry_after >= 1
        await asyncio.gather(first, *queued)
        assert batcher.waiting == 0
        assert await batcher.submit(["h"])  # room again
        await batcher.stop()

    run(go())


def test_a_failing_batch_fails_its_requests_only() -> None:
    async def go() -> None:
        batcher = await started(FakeEngine(), max_batch_size=8, max_wait_ms=20)
        bad, good = await asyncio.gather(batcher.submit(["boom"]), batcher.submit(["x"]), return_exceptions=True)
        assert isinstance(bad, RuntimeError) and isinstance(good, RuntimeError), "they shared the failing batch"
        assert (await batcher.submit(["fine"]))[0]["label"] == "short", "the worker lives on"
        await batcher.stop()

    run(go())


def test_a_model_raising_stop_iteration_fails_its_batch_and_the_queue_lives_on() -> None:
    """asyncio cannot pass StopIteration through a future: unconverted, the batch loop would hang forever."""
    class Exhausted(FakeEngine):
        def run(self, items: list) -> list:
            if "empty" in items:
                next(iter([]))
            return super().run(items)

    async def go() -> None:
        batcher = await started(Exhausted(), max_batch_size=8, max_wait_ms=5)
        with pytest.raises(RuntimeError, match="StopIteration"):
            await asyncio.wait_for(batcher.submit(["empty"]), 10)
        assert (await asyncio.wait_for(batcher.submit(["fine"]), 10))[0]["label"] == "short"
        await batcher.stop()

    run(go())


def test_a_cancelled_request_is_not_computed() -> None:
    async def go() -> None:
        engine = FakeEngine(delay=0.1)
        batcher = await started(engine, max_batch_size=1, max_wait_ms=0)
        first = asyncio.create_task(batcher.submit(["a"]))
        await asyncio.sleep(0.02)
        gone = asyncio.create_task(batcher.submit(["client-went-away"]))
        await asyncio.sleep(0.01)
        gone.cancel()
        await first
        await batcher.stop()
        assert engine.batches == [1], "only the first request reached the model"

    run(go())


def test_a_cancelled_request_split_in_parts_runs_no_more_of_them() -> None:
    async def go() -> None:
        engine = FakeEngine(delay=0.1)
        batcher = await started(engine, max_batch_size=1, max_wait_ms=0)
        gone = asyncio.create_task(batcher.submit(["a", "b", "c"]))
        await asyncio.sleep(0.05)  # its first part is running
        gone.cancel()
        await asyncio.sleep(0.2)
        await batcher.stop()
        assert engine.batches == [1], "the parts not yet run were skipped"
        assert batcher.waiting == 0

    run(go())


def test_stop_drains_queued_work_then_refuses() -> None:
    async def go() -> None:
        engine = FakeEngine(delay=0.05)
        batcher = await started(engine, max_batch_size=1, max_wait_ms=0)
        pending = [asyncio.create_task(batcher.submit([str(i)])) for i in range(4)]
        await asyncio.sleep(0.01)
        await batcher.stop()
        assert all(t.done() and not t.exception() for t in pending)
        with pytest.raises(ShuttingDown):
            await batcher.submit(["late"])

    run(go())


@pytest.mark.parametrize("lengths, expected", [
    ([], []),
    ([40, 200, 48, 44], [[0, 3, 2], [1]]),  # 3 x 48 + 200 + 2 calls beats 4 x 200 + 1 call
    ([40, 44, 48, 52], [[0, 1, 2, 3]]),  # splitting would save less padding than a call costs
    ([100, 400, 120, 410, 110, 405], [[0, 4, 2], [1, 5, 3]]),
    ([7], [[0]]),
])
def test_length_groups_run_similar_lengths_together(lengths, expected) -> None:
    groups = length_groups(lengths)
    assert groups == expected
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
