"""The compare report renders in a real browser (headless Chromium): a non-blank screenshot and no
console errors. Skips where Chromium is not installed (`make test` installs it when it can)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ctxlearn.compare import report
from ctxlearn.compare.aggregate import aggregate, recommend

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--window-size=1200,1400"]


def render(page: Path, tmp: Path) -> tuple[Path, list[str]]:
    """Screenshot of ``page`` and the console messages Chromium logged while loading it."""
    shot = tmp / f"{page.stem}.png"
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return shot, console


def _cells() -> list[dict]:
    rows = []
    for method, acc, params, secs in (("full", 0.90, 22_000_000, 600), ("lora", 0.89, 150_000, 400), ("head", 0.81, 770, 30)):
        for seed, jitter in enumerate((-0.004, 0.004)):
            rows.append({"method": method, "seed": seed, "test_accuracy": acc + jitter, "test_macro_f1": acc,
                         "trainable_params": params, "total_params": 22_700_000, "train_seconds": secs,
                         "peak_rss_mb": 900.0, "predict_ms_per_example": 1.5, "artifact_mb": 3.0})
    return rows


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_compare_report_renders_without_console_errors(tmp_path: Path) -> None:
    cells = _cells()
    rows = aggregate(cells)
    meta = {"data": "sst2", "model": "minilm", "budget": "quick", "budget_help": "test", "seeds": 2}
    report.write(tmp_path, rows, cells, recommend(rows), meta)
    shot, console = render(tmp_path / "report.html", tmp_path)
    assert console == [], console
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] > 500 and float(np.std(pixels)) > 0.05, "screenshot is blank"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_console_errors_are_detected(tmp_path: Path) -> None:
    """The check above can fail: a page that logs an error is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!doctype html><p>x</p><script>console.error('boom')</script>")
    _, console = render(bad, tmp_path)
    assert any("boom" in line for line in console)
