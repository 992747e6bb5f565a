"""quiet_libraries: what the CLI and the benches silence in transformers."""
from __future__ import annotations

import transformers
from transformers.utils import logging as hf_logging

from ctxlearn.quiet import quiet_libraries


def test_no_loading_bars_or_info_logs_after_quieting():
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()
    hf_logging.set_verbosity_info()
    try:
        quiet_libraries()
        assert not hf_logging.is_progress_bar_enabled()
        assert transformers.logging.get_verbosity() == hf_logging.ERROR
    finally:
        hf_logging.set_verbosity(verbosity)
        (hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)()
