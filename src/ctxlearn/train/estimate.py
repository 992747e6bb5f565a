"""Measure before training (``--estimate-steps N``): a few real steps predict the time per epoch and
the peak memory of the full run, so a user (and ``compare --estimate``) can see the cost first.

Trainer methods run N optimizer steps on batches of near-equal length spread from the longest to the
shortest, longest first, the rest in random order (``hf.spread``), save one checkpoint, time one
evaluation on a dev sample and run one on the longest dev rows. Time per epoch = steps x fixed seconds
per step + train tokens x seconds per token (a line through the measured steps: short batches pay the
fixed part on fewer tokens) + one checkpoint save + dev size x seconds per dev example.
The features method times the frozen forward pass on a train sample and scales it (unless the
features are already stored, as the real run would then find them), and times the head fit: the
real one on stored features, else one on the sample, scaled.
Peak memory: the measured peak, with the allocator's growth over a whole run added
(``memory.fragmented_peak_mb``).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ctxlearn.methods import Method
from ctxlearn.train.encode import Encoded, text_labels
from ctxlearn.train.features import features, fit_head, head_fit_keys
from ctxlearn.train.memory import fragmented_peak_mb, peak_rss_mb, settled_rss_mb

SAMPLE = 512  # train rows the features estimate runs on


def train_tokens(data: Encoded) -> int:
    return sum(len(r["input_ids"]) for r in data.rows)


def estimate_trainer(cfg: Any, method: Method, model: Any, tokenizer: Any, data: dict[str, Encoded], work: Path,
                     bf16: bool, options: Any) -> dict[str, Any]:
    from ctxlearn.train.hf import fit_with_trainer

    epochs = cfg.epochs or method.epochs
    callbacks = method.callbacks(model, options) if method.callbacks else []
    m = fit_with_trainer(model, tokenizer, data["train"], data["dev"], cfg, work, epochs, cfg.lr or method.lr, bf16,
                         callbacks, max_steps=cfg.estimate_steps)
    fixed, per_token = m["step_seconds"]
    steps_per_epoch = math.ceil(len(data["train"]) / cfg.batch_size)
    train_s = steps_per_epoch * fixed + train_tokens(data["train"]) * per_token
    return {"epochs": epochs, "steps_measured": m["steps"], "steps_planned": math.ceil(epochs * steps_per_epoch),
            "tokens_per_s": m["steady_tokens_per_s"],
            "step_seconds_fixed": fixed, "step_seconds_per_token": per_token, "save_seconds": m["save_seconds"],
            "settled_rss_mb": m["settled_rss_mb"],
            "epoch_seconds": train_s + cfg.evals_per_epoch * (m["save_seconds"]
                                                             + len(data["dev"]) * m["dev_seconds_per_example"])}


def estimate_features(cfg: Any, model: Any, tokenizer: Any, data: dict[str, Encoded], hashes: dict[str, str],
                      source: Any, bf16: bool, grid: list[float]) -> dict[str, Any]:
    """``cached_epoch_seconds`` is the fit alone, what a run takes once the features are stored (a
    comparison's later seeds): timed on the stored features when they are there, else scaled from a
    sample; ``forward_seconds`` is the forward pass that stores them, scaled from a sample."""
    n_rows = len(data["train"]) + len(data["dev"])
    keys, cached = head_fit_keys(source, hashes, cfg.max_length, bf16, cfg.long_inputs)
    sample = Encoded(data["train"].rows[:SAMPLE])
    t0 = time.perf_counter()
    x = features(model, sample, tokenizer, bf16)
    forward_s = (time.perf_counter() - t0) / len(sample) * n_rows
    fit_s = timed_fit(model, tokenizer, data, keys, bf16, grid, cfg.seed) if cached else \
        sample_fit(model, x, sample, grid, cfg.seed) * len(data["train"])
    return {"epochs": 1, "steps_measured": 0, "tokens_per_s": train_tokens(sample) / forward_s * n_rows / len(sample),
            "features_cached": cached, "forward_seconds": forward_s, "cached_epoch_seconds": fit_s,
            "epoch_seconds": fit_s + (0.0 if cached else forward_s)}


def timed_fit(model: Any, tokenizer: Any, data: dict[str, Encoded], keys: dict[str, str], bf16: bool,
              grid: list[float], seed: int) -> float:
    """Seconds of the real run's head fit: the stored features of train and dev read, the head fitted."""
    y = {s: text_labels(data[s]) for s in keys}
    t0 = time.perf_counter()
    x = {s: features(model, data[s], tokenizer, bf16, k) for s, k in keys.items()}
    fit_head(model, x["train"], y["train"], x["dev"], y["dev"], grid, seed)
    return time.perf_counter() - t0


def sample_fit(model: Any, x: np.ndarray, sample: Encoded, grid: list[float], seed: int) -> float:
    """Seconds per train row of a head fit on half the sample, scored on the other half (an
    under-estimate: the solver's iterations grow with the rows, but the forward pass dominates then)."""
    y = np.array([r["labels"] for r in sample.rows])
    half = len(sample) // 2
    t0 = time.perf_counter()
    if len(set(y[:half])) > 1:
        fit_head(model, x[:half], y[:half], x[half:], y[half:], grid, seed)
    return (time.perf_counter() - t0) / max(1, half)


def finish(result: dict[str, Any], method: str, started: float) -> dict[str, Any]:
    """``settled_rss_mb`` is the live memory the trainer measured while its optimizer was still held
    (the features method has none: it is measured here)."""
    epochs, peak = result["epochs"], peak_rss_mb()
    settled = result.get("settled_rss_mb") or settled_rss_mb()
    result.update(method=method, total_seconds=result["epoch_seconds"] * epochs, measured_peak_rss_mb=peak,
                  settled_rss_mb=settled,
                  peak_rss_mb=fragmented_peak_mb(peak, settled, result["steps_measured"], result.get("steps_planned", 0)),
                  estimate_wall_seconds=time.time() - started)
    return result
