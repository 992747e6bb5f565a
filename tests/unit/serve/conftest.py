"""Serving fixtures: the tiny trained run as an engine (helpers are in serve_fixtures.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ctxlearn.serve.engine import open_engine


@pytest.fixture(scope="session")
def tiny_engine(tiny_run: Path):
    return open_engine(tiny_run)
