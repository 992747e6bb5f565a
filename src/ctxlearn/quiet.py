"""What the CLI and the benchmarks silence in the libraries they drive: transformers' info logs and its
per-load "Loading weights" bars (a bar for every model loaded, in every compare cell and bench run), and
a peft warning no user can act on. Python users who call ``run_training`` keep the libraries' defaults."""
from __future__ import annotations

import warnings


def quiet_libraries() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    # A warning every peft model load printed: peft 0.21 reads transformers' deprecated
    # `is_gradient_checkpointing`. (Its false alarm on AdaLoRA's rank_pattern is silenced where the
    # adapter loads, `artifact.load_peft_adapter`, for Python users too.)
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
