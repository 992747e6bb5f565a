"""Memory of this process: its peak, the live set between steps, and the peak a whole run reaches."""
from __future__ import annotations

import ctypes
import gc
import os
import resource
from pathlib import Path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settled_rss_mb() -> float | None:
    """Memory resident now, once Python's garbage and the C heap's free pages are handed back (glibc's
    ``malloc_trim``): what stays live between steps. None where /proc or glibc is missing."""
    gc.collect()
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    statm = Path("/proc/self/statm")
    if trim is None or not statm.is_file():
        return None
    trim(0)
    return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def fragmented_peak_mb(peak: float, settled: float | None) -> float:
    """The run's peak predicted from the measured one. A few steps see a fresh heap; over a whole run
    glibc's heap keeps the freed activations of earlier steps resident, in holes that later steps of
    other shapes only partly reuse, so the memory above the live set grows towards twice what one step
    needs (SST-2, MiniLM, 9 methods: the real runs peaked 1.31-1.51x above 40 measured steps; the
    model, optimizer and libraries stay put). Predicted: live + 2 x (measured peak - live)."""
    return peak if settled is None else peak + max(0.0, peak - settled)
