"""Budget presets: the same caps for every method, so cells differ only in the method."""
from __future__ import annotations

from dataclasses import dataclass

from ctxlearn.registry import Registry


@dataclass(frozen=True)
class Budget:
    help: str
    max_train: int = 0  # 0 = all training examples
    max_epochs: float = 0.0  # 0 = each method's default; otherwise min(default, this)
    seeds: int = 3
    icl_limit: int = 0  # test examples the icl method scores (0 = all): it trains nothing, scoring is its cost


BUDGETS: Registry[Budget] = Registry("budget")
BUDGETS.register("quick")(Budget("2,000 training examples (stratified), at most 2 epochs, 1 seed; icl scores "
                                 "the first 300 test examples: a first look in minutes",
                                 max_train=2000, max_epochs=2, seeds=1, icl_limit=300))
BUDGETS.register("full")(Budget("all training examples, each method's default epochs (early stopping on dev), 3 seeds"))
