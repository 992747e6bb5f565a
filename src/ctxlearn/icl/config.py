"""The configuration of an in-context learning run: one typed field per flag of ``ctxlearn icl``."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ctxlearn.config import (DataOptions, check_choice, check_at_least, check_choices, check_seed, default_out,
                             free_run_folder, from_dict, opt, read_recipe, to_dict)
from ctxlearn.errors import ConfigError


@dataclass
class IclConfig(DataOptions):
    """Demonstrations come from train, scores from test."""

    model: str = opt("smollm2", "causal LM: a registered name (see `ctxlearn models`), "
                     "a local folder, or hf:<repo-id>[@revision]")
    out: str = opt("", "run folder to write (the artifact); unset, runs/DATA-icl (runs/trec-icl), or runs/DATA-icl-2 "
                       "and on where that holds a run of other settings")
    prompt: str = opt("auto", "prompt preset (auto = single or pair by the data; sst2, trec, agnews, rte, cb) or a YAML "
                              "file of template/verbalizer/instruction/target_delimiter/demo_separator")
    template: str | None = opt(None, r"override the preset's template: {text}, {text_pair}; \n for a new line")
    instruction: str | None = opt(None, "override the preset's instruction (put once before the demonstrations)")
    verbalizer: str | None = opt(None, "override the label words: label=words pairs, comma separated "
                                       "(negative=Negative,positive=Positive)")
    shots: int = opt(4, "demonstrations per prompt (k); 0 = zero-shot")
    select: str = opt("knn", "how demonstrations are chosen: random or balanced (shared by every query, cached once), "
                             "knn (nearest to each query), knn-balanced (nearest, at most ceil(k/C) per class), "
                             "random-each (per query, as lm-evaluation-harness)")
    order: str = opt("similar-last", "order of knn demonstrations: similar-last, similar-first, random "
                                     "(random also shuffles shared ones)")
    encoder: str = opt("minilm", "sentence encoder whose mean-pooled vectors knn compares")
    calibrate: bool = opt(False, "contextual calibration (Zhao et al. 2021): divide out the label bias that "
                                 "content-free inputs (N/A, '', [MASK]) show")
    max_train: int = opt(0, "draw demonstrations from at most this many training examples (0 = all), a seeded sample "
                            "stratified by label: icl with as few labelled examples as `train --max-train` gets")
    limit: int = opt(0, "score only the first N test (and dev) examples (0 = all)")
    dev: bool = opt(False, "also score the dev split (doubles the cost)")
    max_context: int = opt(0, "longest prompt in tokens (0 = the model's context; more is refused); longer prompts "
                              "lose demonstrations, the least similar first")
    batch_tokens: int = opt(0, "tokens per forward pass, counting the shared prefix each row attends to "
                               "(0 = 1024 on CPU, where small batches stay in cache; 16384 on GPU)")
    bf16: str = opt("off", "bf16 weights: on, off, auto (on where the hardware has fast bf16)",
                    choices=("auto", "on", "off"))
    seed: int = opt(0, "seed for splits and demonstration draws")
    threads: int = opt(0, "CPU threads for torch (0 = all cores)")

    def __post_init__(self) -> None:
        from ctxlearn.icl.select import ORDERS, SELECTORS

        super().__post_init__()
        check_at_least(self, dict.fromkeys(("shots", "max_train", "limit", "max_context", "batch_tokens"), 0))
        check_seed(self.seed)
        check_choices(self)
        check_choice("order", self.order, ORDERS)
        SELECTORS.get(self.select, field="select")  # names the choices when unknown
        self.out = self.out or free_run_folder(default_out(self.data, "icl"), to_dict(self))


def icl_config(flags: dict[str, Any], path: str | None = None) -> IclConfig:
    """YAML recipe (if any), then the flags that were given (None = not given)."""
    values = read_recipe(IclConfig, path) if path else {}
    names = {f.name for f in fields(IclConfig)}
    values.update({k: v for k, v in flags.items() if k in names and v is not None})
    if not values.get("data"):
        raise ConfigError("icl: --data is required (a file, a folder with train/dev/test files, or builtin:NAME)")
    return from_dict(IclConfig, values, None)  # the recipe was checked alone: a fault now is a flag's
