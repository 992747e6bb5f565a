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

    def describe(self, seeds: int, tagging: bool, icl: bool, examples: str = "") -> str:
        """What this run did under the budget: ``help`` names the preset's defaults, which ``--seeds``,
        the task (tagging samples sentences at random) and the methods (icl or not) change; ``examples``
        says how many training examples in place of the budget (a learning curve's sizes)."""
        sample = "random sentences" if tagging else "stratified"
        parts = [f"{examples} ({sample})" if examples else
                 f"{self.max_train:,} training examples ({sample})" if self.max_train else "all training examples",
                 f"at most {self.max_epochs:g} epochs" if self.max_epochs
                 else "each method's default epochs (early stopping on dev)",
                 f"{seeds} seed{'s' * (seeds != 1)}"]
        text = ", ".join(parts)
        return text + (f"; icl scores the first {self.icl_limit:,} test examples" if icl and self.icl_limit else "")


BUDGETS: Registry[Budget] = Registry("budget")
BUDGETS.register("quick")(Budget("2,000 training examples (stratified), at most 2 epochs, 1 seed; icl scores "
                                 "the first 300 test examples: a first look in minutes",
                                 max_train=2000, max_epochs=2, seeds=1, icl_limit=300))
BUDGETS.register("full")(Budget("all training examples, each method's default epochs (early stopping on dev), 3 seeds"))
