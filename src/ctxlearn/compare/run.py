"""Plan the cells, run the missing ones, aggregate, report."""
from __future__ import annotations

import contextlib
import io
import math
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ctxlearn.compare import curve, report
from ctxlearn.compare.aggregate import RANKINGS, aggregate, recommend
from ctxlearn.compare.budget import BUDGETS
from ctxlearn.compare.command import COMMAND, record_command
from ctxlearn.compare.cells import (Cell, Progress, cell_key, cell_warnings, cuts_test, data_digest, goes_on,
                                    kept_result, run_cell, start_over_if_changed)
from ctxlearn.compare.estimates import beside, load_or_run
from ctxlearn.compare.estimates import table as estimate_table
from ctxlearn.config import DataOptions, check_at_least, check_choices, default_out, opt
from ctxlearn.data.tagged_splits import is_tagging_data
from ctxlearn.errors import ConfigError
from ctxlearn.lock import holds_out
from ctxlearn.registry import did_you_mean

DEFAULT_METHODS = "full,head,topk,lora"
# train flags that compare sets for each cell, and what to give compare instead; after -- they were dropped or
# overrode compare's own (-- --model x trained every cell on x under a report that named compare's --model)
DATA_FLAGS = tuple(f"--{f.name.replace('_', '-')}" for f in fields(DataOptions))
CELL_FLAGS = {"--seed": "give --seeds N (seeds 0 to N-1)", "--method": "give --methods",
              "--resume": "rerunning the same compare resumes its cells", "--fold": "give --folds N (every fold)",
              **{flag: f"give compare's {flag}" for flag in ("--out", "--json", "--model", *DATA_FLAGS)}}
ICL_SHOTS, ICL_SELECT, ICL_ORDER = 4, "knn", "similar-last"  # the icl method: k=4 nearest, most similar last


@dataclass
class CompareConfig(DataOptions):
    """The data options (fields, fractions) go to every cell, train and icl alike."""

    data: str = opt("", "data: a file, a folder with train/dev/test files, or builtin:NAME")
    model: str = opt("minilm", "backbone for every method")
    methods: str = opt(DEFAULT_METHODS, "comma-separated methods (see `ctxlearn methods`)")
    seeds: int = opt(0, "seeds per method (0 = the budget's number)")
    budget: str = opt("full", "quick (capped data and epochs, 1 seed) or full (method defaults, 3 seeds)")
    out: str = opt("", "folder for the cells, results.json, report.md and report.html; unset, runs/DATA-compare")
    estimate: bool = opt(False, "first measure a few steps per method and show the predicted time per epoch and peak "
                                "memory (the report puts them beside the actual figures)")
    estimate_only: bool = opt(False, "show the estimates and stop before training")
    icl_model: str = opt("smollm2", "causal LM for the icl method (k=4, knn demonstrations, contextual calibration)")
    icl_verbalizer: str = opt("", "label words for the icl method: label=words pairs, comma separated (e.g. "
                                  "0=negative,1=positive, where labels are class ids); unset, the labels themselves")
    rank_by: str = opt("accuracy", "the score classification methods are ranked by: accuracy, or macro_f1 (every "
                                   "class alike: for imbalanced classes); tagging ranks by entity F1",
                       choices=RANKINGS)
    train_sizes: str = opt("", "a learning curve: numbers of training examples, comma separated (e.g. 100,500,2000); "
                               "every method runs at each size, on the same sample (icl draws its demonstrations "
                               "from it), and report.md shows which is best at which size")
    fold: int = opt(0, "train's, refused here: compare runs every fold of --folds, each as its own cell")
    extra: list[str] = field(default_factory=list, metadata={"help": "further `ctxlearn train` flags for every cell "
                                                                     "(icl cells take those icl has: --threads, "
                                                                     "--max-train, --bf16)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.out = self.out or default_out(self.data, "compare")
        check_choices(self)
        check_at_least(self, {"seeds": 0})  # --seeds -1 was an IndexError
        for arg in self.extra:
            flag = arg.split("=", 1)[0]
            if flag in CELL_FLAGS:
                raise ConfigError(f"compare: {flag} after -- is set by compare for each cell; {CELL_FLAGS[flag]}")
        if self.fold:
            raise ConfigError(f"compare: --fold {self.fold} picks one test fold of a train run; compare --folds N runs "
                              "every fold", field="fold")
        if self.train_sizes:
            curve.parse_sizes(self.train_sizes)  # refused here, before any cell runs


def method_epochs(method: str, cap: float) -> float | None:
    from ctxlearn.methods import METHODS

    if method == "icl" or not cap:
        return None
    default = METHODS.get(method).epochs
    return min(default, cap) if default else None


def curve_epochs(cfg: CompareConfig, method: str, n: int) -> list[str]:
    """The epoch flags of a learning curve's cell at ``n`` training examples: the budget's epochs (the cells' own
    --epochs after --, where given), but at least ``curve.least_epochs``, so that a small sample is not also a
    short run (32 SST-2 examples at the quick budget's 2 epochs were 2 steps). Epochs so raised are a step or a
    few: such a run is scored on dev every ``curve.EVAL_EVERY`` steps, not every epoch (50 evaluations of 872
    texts took a 32-example lora run 312 s), and runs to the end, where early stopping's patience would end it
    after a few evaluations."""
    from ctxlearn.methods import METHODS

    default = METHODS.get(method).epochs if method != "icl" else 0
    if not default:  # head and icl take no steps
        return []
    base = given_epochs(cfg.extra) or method_epochs(method, BUDGETS.get(cfg.budget).max_epochs) or default
    batch = batch_size(cfg.extra)
    least = curve.least_epochs(n, batch)
    if least <= base:
        return ["--epochs", f"{base:g}"]
    per_epoch = math.ceil(n / batch) / curve.EVAL_EVERY
    return (["--epochs", f"{least:g}"] + (["--evals-per-epoch", f"{per_epoch:g}"] if per_epoch < 1 else [])
            + (["--patience", "0"] if "--patience" not in cfg.extra else []))


def data_args(cfg: CompareConfig) -> list[str]:
    """--data and the data flags given (those left at their defaults are not repeated, so the cell keys of
    earlier comparisons still hold)."""
    defaults = DataOptions()
    given = [(f.name, getattr(cfg, f.name)) for f in fields(DataOptions) if f.name != "data"]
    return ["--data", cfg.data, *(arg for name, value in given if value != getattr(defaults, name)
                                  for arg in ("--" + name.replace("_", "-"), str(value)))]


def icl_args(cfg: CompareConfig) -> list[str]:
    """ICL trains nothing: the budget caps the test examples it scores instead (``icl_limit``)."""
    b = BUDGETS.get(cfg.budget)
    args = [*data_args(cfg), "--model", cfg.icl_model, "--shots", str(ICL_SHOTS), "--select", ICL_SELECT,
            "--order", ICL_ORDER, "--calibrate"]
    args += ["--verbalizer", cfg.icl_verbalizer] if cfg.icl_verbalizer else []
    return args + (["--limit", str(b.icl_limit)] if b.icl_limit else [])


ICL_SHARED = ("--threads", "--max-train", "--bf16")  # the flags after -- that icl takes as train does


def shared_with_icl(extra: list[str]) -> list[str]:
    """The flags after -- (each with its values) that an icl cell takes too: the others (--epochs, --lr) are
    training's. Left out, an icl cell drew its demonstrations from all the data the train cells were capped
    below (--max-train 300: 3,863 examples against 300), on every core (--threads 1)."""
    out, keep = [], False
    for arg in extra:
        if arg.startswith("--"):
            keep = arg.split("=", 1)[0] in ICL_SHARED
        out += [arg] if keep else []
    return out


def cell_args(cfg: CompareConfig, method: str, max_train: int = 0) -> list[str]:
    """A cell's flags; ``max_train``, a learning curve's size, caps its training examples in place of the budget
    (and icl's demonstration pool, which the budget leaves whole)."""
    if method == "icl":
        return icl_args(cfg) + shared_with_icl(cfg.extra) + (["--max-train", str(max_train)] if max_train else [])
    b = BUDGETS.get(cfg.budget)
    args = [*data_args(cfg), "--model", cfg.model, *cfg.extra]
    if max_train:
        return args + ["--max-train", str(max_train)] + curve_epochs(cfg, method, max_train)
    if b.max_train and not given(cfg.extra, "--max-train"):  # given after --, the cells' own cap wins
        args += ["--max-train", str(b.max_train)]
    epochs = method_epochs(method, b.max_epochs)
    return args + (["--epochs", str(epochs)] if epochs and not given(cfg.extra, "--epochs") else [])


def given(extra: list[str], flag: str) -> bool:
    """Whether the train flags after -- set ``flag`` (``--epochs 5`` or ``--epochs=5``)."""
    return any(arg == flag or arg.startswith(flag + "=") for arg in extra)


def budget_text(cfg: CompareConfig, seeds: int, tagging: bool, icl: bool, max_train: int = 0, sample: str = "") -> str:
    """What the cells ran under: the budget's caps (or a learning curve's size, ``max_train`` or the words of
    ``sample``, whose rules win over the flags after --), the flags after -- that replace the caps, and the folds."""
    sample = sample or (f"{max_train:,} training examples" if max_train else "")
    text = BUDGETS.get(cfg.budget).describe(seeds, tagging, icl, sample)
    flags = ("--epochs",) if sample else ("--max-train", "--epochs")  # a curve's sizes replace any --max-train
    own = [flag for flag in flags if given(cfg.extra, flag)]
    if own:
        text += f"; the cells' own {' and '.join(own)} (after --) in place of the budget's"
    if max_train:  # one size of a learning curve: its epochs may be more than either says
        text += (f"; methods trained by gradient steps take at least {curve.MIN_STEPS} steps, a small sample's epochs "
                 "raised to reach them")
    return text + folds_text(cfg)


def folds_hint(cfg: CompareConfig, rec: dict[str, Any]) -> str:
    """Where the test split cannot rank the methods and was cut from train (one file, built-in data, a folder
    without a test file), that --folds would test every example; "" otherwise."""
    if not rec.get("within_interval") or cfg.folds or not cuts_test(cfg.data):
        return ""
    whole = "its train file" if Path(cfg.data).is_dir() else "it"
    return (f" Cut from {cfg.data}, the test split is {100 * cfg.test_fraction:g}% of {whole}: --folds 5 tests "
            "every example once, and ranks finer.")


def folds_text(cfg: CompareConfig) -> str:
    """What --folds did, for the budget's line; "" without it."""
    return (f"; {cfg.folds}-fold cross-validation: each fold of the data is the test split of one run per seed, so "
            "every example is tested once, and each score is the mean over folds" if cfg.folds else "")


def flag_value(extra: list[str], flag: str) -> str | None:
    """The last value the flags after ``--`` give ``flag`` (``--epochs 5`` or ``--epochs=5``); None if none."""
    value = None
    for i, arg in enumerate(extra):
        if arg == flag and i + 1 < len(extra):
            value = extra[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def batch_size(extra: list[str]) -> int:
    """The training batch size the cells run with: --batch-size among the flags after ``--``, or train's default."""
    from ctxlearn.config import TrainConfig

    given = flag_value(extra, "--batch-size")
    return int(given) if given and given.isdigit() else TrainConfig.batch_size


def given_epochs(extra: list[str]) -> float | None:
    """--epochs among the flags after ``--``, where it is a number (train refuses it otherwise, before any cell)."""
    try:
        return float(flag_value(extra, "--epochs") or "")
    except ValueError:
        return None


def same_icl_run(cfg: CompareConfig, cell: Cell, results: list[dict[str, Any]],
                 max_train: int = 0) -> dict[str, Any] | None:
    """The earlier seed's result for an icl cell that would only repeat it: knn demonstrations in a fixed
    order draw nothing, so a seed reaches an icl run only through the splits it cuts (and the sample of
    ``max_train`` demonstrations it draws from them)."""
    from ctxlearn.data.splits import splits_of
    from ctxlearn.icl.select import draws_nothing

    earlier = next((r for r in results if r["method"] == "icl" and "same_as_seed" not in r), None)
    if cell.method != "icl" or earlier is None or cfg.folds or not draws_nothing(ICL_SELECT, ICL_ORDER, ICL_SHOTS):
        return None  # each fold tests other examples

    def drawn_from(seed: int) -> dict[str, str]:
        return splits_of(cfg, seed).cap_train(max_train, seed).hashes

    if drawn_from(cell.seed) != drawn_from(earlier["seed"]):
        return None
    return {**earlier, "seed": cell.seed, "same_as_seed": earlier["seed"]}


def plan(cfg: CompareConfig) -> list[Cell]:
    """Seed-major: every method's seed 0 first, so an interrupted comparison already covers every method."""
    from ctxlearn.methods import METHODS

    methods = [m.strip() for m in cfg.methods.split(",") if m.strip()]
    repeated = sorted({m for m in methods if methods.count(m) > 1})
    if repeated:  # a repeat ran as a second seed of its method, with the first's seed
        raise ConfigError(f"--methods {cfg.methods!r}: {', '.join(repeated)} listed more than once; list each method "
                          "once (--seeds N runs each N times)")
    if not methods:
        raise ConfigError(f"--methods {cfg.methods!r}: no method named; e.g. head,lora")
    choices = [*METHODS, "icl"]
    for m in methods:  # unknown names fail here, before any training
        if m not in choices:
            raise ConfigError(f"--methods: unknown method {m!r}{did_you_mean(m, choices)}; choose one of: "
                              f"{', '.join(choices)}")
    if "icl" in methods and is_tagging_data(cfg.data, cfg.text_field, cfg.label_field):
        raise ConfigError(f"compare: icl labels whole texts, and {cfg.data} holds tagging data; leave icl out of "
                          "--methods")
    folds = list(range(cfg.folds)) if cfg.folds else [None]
    return [Cell(m, s, f) for s in range(seeds_of(cfg)) for f in folds for m in methods]


def seeds_of(cfg: CompareConfig) -> int:
    """Seeds per method: --seeds, else one under --folds (its folds already score every example), else the budget's."""
    return cfg.seeds or (1 if cfg.folds else BUDGETS.get(cfg.budget).seeds)


def check_cells(cfg: CompareConfig, cells: list[Cell]) -> None:
    """Parse each training cell's flags, read the data and find the models here, as the cells will, so that a
    wrong path, field, row or model name, or a flag after ``--`` that train refuses, fails before any cell starts:
    it failed in the first cell, 12 s on, leaving a folder of cells behind."""
    from ctxlearn.data.splits import splits_of
    from ctxlearn.models import resolve_model
    from ctxlearn.tasks import task_for

    configs = [train_cell_config(cfg, m) for m in dict.fromkeys(c.method for c in cells if c.method != "icl")]
    if configs:
        first = configs[0]
        task_for(first.task, first.data, first.text_field, first.label_field).load(first)
        resolve_model(first.model)
    else:  # icl alone: it reads classification data as train does
        splits_of(cfg, seed=0)
    if any(c.method == "icl" for c in cells):
        resolve_model(cfg.icl_model)


def train_cell_config(cfg: CompareConfig, method: str) -> Any:
    """The TrainConfig a cell of ``method`` runs with; a flag train refuses is a ConfigError naming it."""
    from ctxlearn.cli import build_parser, train_config

    argv = ["train", *cell_args(cfg, method), "--method", method]
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return train_config(build_parser(argv).parse_args(argv))
    except SystemExit:  # argparse's own exit, after its usage and error lines
        error = said.getvalue().strip().splitlines()[-1].split("error: ", 1)[-1]
        raise ConfigError(f"compare: the train cells' flags (those after --): {error}") from None


@holds_out
def run_compare(cfg: CompareConfig) -> dict[str, Any]:
    if not cfg.data:
        raise ConfigError("compare: --data is required")
    check_compare_out(Path(cfg.out))
    cells = plan(cfg)
    check_cells(cfg, cells)
    digest = data_digest(cfg.data)  # the data's bytes, read once for every cell's key
    record_command(cfg)
    if cfg.train_sizes:
        return learning_curve(cfg, cells, digest)
    return compare_cells(cfg, cells, Path(cfg.out), digest)


REPORTS = ("results.json", "learning_curve.json")  # what a finished comparison, or learning curve, writes


def check_compare_out(out: Path) -> None:
    """Refuse an ``--out`` that holds anything but a comparison, before any cell runs: compare writes its
    report.md, results.json, report.html and plots into the folder it is given, over a user's report.md or a
    train run's own, and goes on with the comparison a folder holds (``is_comparison``)."""
    if not out.is_dir() or is_comparison(out) or not (held := sorted(p.name for p in out.iterdir())):
        return
    raise ConfigError(f"--out {out} holds {', '.join(held[:3])}{', ...' if len(held) > 3 else ''}, which are not a "
                      "comparison's, and compare writes its report.md, results.json and cells there; give a new or "
                      f"empty folder, e.g. {out.with_name(f'{out.name}-compare')}")


def is_comparison(folder: Path) -> bool:
    """Whether ``folder`` is compare's: its cells (made first), its report, or a learning curve's sizes."""
    if (folder / "cells").is_dir() or any((folder / name).is_file() for name in (*REPORTS, COMMAND)):
        return True
    sizes = (p for p in folder.iterdir() if p.is_dir() and p.name[:1] == "n" and p.name[1:].isdecimal())
    return any(is_comparison(p) for p in sizes)


def learning_curve(cfg: CompareConfig, cells: list[Cell], digest: str) -> dict[str, Any]:
    """The comparison at each of ``--train-sizes``, in OUT/nSIZE/, smallest first; a size past the training
    data's own is run once, on all of it. OUT/report.md and learning_curve.png show the curve."""
    out, points, folders = Path(cfg.out), [], []
    sizes = curve.parse_sizes(cfg.train_sizes)
    if cfg.estimate_only:
        return {"out": str(out), "estimates": {n: compare_cells(cfg, cells, out / f"n{n}", digest, n)["estimates"]
                                               for n in sizes}}
    for n in sizes:
        print(f"learning curve: {n:,} training examples", file=sys.stderr, flush=True)
        result = compare_cells(cfg, cells, out / f"n{n}", digest, max_train=n)
        points.append(curve.point(n, result["methods"]))
        folders.append(f"n{n}")
        if points[-1]["n_train"] < n:  # every training example: a larger size would run the same cells again
            break
    left, last = sizes[len(points):], result["meta"]
    help_ = budget_text(cfg, last["seeds"], last["tagging"], any(c.method == "icl" for c in cells),
                        sample="each size's training examples")
    meta = {**last, "budget_help": help_, "sizes": sizes, "folders": folders,
            "note": f"Not run: {', '.join(map(str, left))}, past the {points[-1]['n_train']:,} training examples the "
                    "data holds." if left else ""}
    return {"out": str(out), "learning_curve": curve.write(out, points, meta, cfg.rank_by)}


def process_seconds(results: list[dict[str, Any]]) -> float | None:
    """The cells' processes' time in all, start-up included, where every cell ran now (a cell kept from an
    earlier compare has only its run's wall time); a repeated icl seed ran nothing."""
    ran = [r.get("process_seconds") for r in results if "same_as_seed" not in r]
    return None if None in ran else sum(ran)


def cell_seconds(started: float | None, result: dict[str, Any]) -> float | None:
    """The time of a cell's processes: the one that ran now, start-up and all, and the training of the sessions
    a stop cut short (``earlier_seconds``; their start-up is not known); None for a cell kept from an earlier run."""
    return None if started is None else time.time() - started + (result.get("earlier_seconds") or 0.0)


def compare_cells(cfg: CompareConfig, cells: list[Cell], out: Path, digest: str, max_train: int = 0) -> dict[str, Any]:
    """Run the cells that have not finished under ``out``, then aggregate and write the report there."""
    (out / "cells").mkdir(parents=True, exist_ok=True)
    estimates = {}
    if cfg.estimate or cfg.estimate_only:
        methods = list(dict.fromkeys(c.method for c in cells))
        estimates = load_or_run(methods, lambda m: cell_args(cfg, m, max_train), out, digest)
        print(estimate_table(estimates, len(cells) // len(methods)), file=sys.stderr, flush=True)
        if cfg.estimate_only:
            return {"out": str(out), "estimates": estimates}
    progress, results = Progress(len(cells)), []
    for cell in cells:
        folder, log = out / "cells" / cell.name, out / "cells" / f"{cell.name}.log"
        args = cell_args(cfg, cell.method, max_train)
        key = cell_key([*args, *cell.args], digest)
        result = kept_result(folder, key) or same_icl_run(cfg, cell, results, max_train)
        started = None
        if not result:
            start_over_if_changed(folder, key)
            started = progress.start(cell, goes_on(folder))
            result = run_cell(cell, folder, args, log)
            folder.with_name(cell.name + ".key").write_text(key)
        result = {**result, "fold": cell.fold, "process_seconds": cell_seconds(started, result)}
        progress.finish(cell, result)
        progress.relay(log)
        results.append(result)
    rows = aggregate(results)
    beside(rows, results, estimates)
    rec = recommend(rows, rank_by=cfg.rank_by)
    rec["text"] += folds_hint(cfg, rec)
    seeds = seeds_of(cfg)
    tagging = any(r.get("task") == "tagging" for r in results)  # as the cells read the data: no second read of it
    text = budget_text(cfg, seeds, tagging, any(c.method == "icl" for c in cells), max_train)
    meta = {"data": cfg.data, "model": cfg.model, "budget": cfg.budget, "budget_help": text, "tagging": tagging,
            "seeds": seeds, "methods": [r["method"] for r in rows],
            "cells": len(results),  # a repeated icl seed ran nothing: its time is counted once
            "cells_wall_seconds": sum(r.get("wall_seconds") or 0.0 for r in results if "same_as_seed" not in r),
            "cells_process_seconds": process_seconds(results),
            "warnings": cell_warnings(results)}
    report.write(out, rows, results, rec, meta)
    return {"out": str(out), "recommendation": rec, "methods": rows, "meta": meta}
