"""Process memory: the peak, the live set, and the peak predicted for a whole run."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from ctxlearn.train.memory import GROWTH, fragmented_peak_mb, peak_rss_mb, settled_rss_mb


def test_fragmented_peak_adds_a_share_of_the_measured_growth_per_doubling_of_the_steps() -> None:
    four_times = fragmented_peak_mb(1500.0, 1000.0, measured_steps=40, planned_steps=160)
    assert four_times == pytest.approx(1000.0 + 500.0 * (1 + 2 * GROWTH))
    assert 1500.0 < four_times < fragmented_peak_mb(1500.0, 1000.0, 40, 1600)


@pytest.mark.parametrize("settled, measured, planned", [(None, 40, 800),  # no live size known
                                                        (1600.0, 40, 800),  # live above the peak: no growth
                                                        (1000.0, 0, 800),  # no training steps (the features method)
                                                        (1000.0, 40, 30)])  # a run no longer than the measurement
def test_fragmented_peak_is_the_measured_peak_without_a_growth_to_scale(settled: float | None, measured: int,
                                                                         planned: int) -> None:
    assert fragmented_peak_mb(1500.0, settled, measured, planned) == 1500.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and glibc")
def test_settled_memory_hands_back_holes_in_the_heap() -> None:
    blocks = [np.ones(12_000) for _ in range(4_000)]  # ~384 MB in 96 kB blocks: on the heap, not mmapped
    full = settled_rss_mb()
    assert full > 300  # in MB, not pages or bytes
    del blocks[::2]  # ~192 MB of holes between live blocks: free() alone keeps them resident
    assert settled_rss_mb() < full - 150
    assert full < peak_rss_mb() + 1
