"""The ``ctxlearn`` command. Flags mirror the config dataclass fields; their help is the field help."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import json
import os
import shlex
import shutil
import signal
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

from ctxlearn import __version__
from ctxlearn.config import READINGS
from ctxlearn.errors import CtxlearnError, Interrupted
from ctxlearn.export.cli import add_parser as add_export_parser
from ctxlearn.quiet import quiet_libraries
from ctxlearn.registry import did_you_mean
from ctxlearn.serve.cli import add_parser as add_serve_parser
from ctxlearn.signals import ENDING_SIGNALS, handled
from ctxlearn.threads import threads_flag, use_threads

os.environ.setdefault("HF_HUB_OFFLINE", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


class _Once(argparse.Action):
    """A flag that may be given once: a second --threshold replaced the first without a word (two classes'
    thresholds, as a user may mean them, kept only the last, which flipped every label)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any,
                 option: str | None = None) -> None:
        if getattr(namespace, self.dest) is not None:
            parser.error(f"{option} given twice ({getattr(namespace, self.dest)}, then {value}): give it once")
        setattr(namespace, self.dest, value)


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "", dest_prefix: str = "") -> None:
    """One flag per field; defaults are left as None so YAML values are only overridden when given."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata or f.name in {"method_options", "extra"}:
            continue
        kind = hints[f.name]
        base = typing.get_args(kind)[0] if typing.get_origin(kind) in (typing.Union, getattr(__import__("types"), "UnionType", ())) else kind
        shown = f" (default: {f.default})" if f.default not in ("", None) else ""  # none, or one the help describes
        text = f"{f.metadata['help']}{shown}"
        if base is bool:
            # --x sets it, --no-x clears it: a flag can override a recipe's YAML either way
            parser.add_argument(_flag(prefix + f.name), dest=dest_prefix + f.name, action=argparse.BooleanOptionalAction,
                                default=None, help=text)
        else:
            choices = f.metadata.get("choices")  # shown in --help, and a wrong value is refused naming them
            parser.add_argument(_flag(prefix + f.name), dest=dest_prefix + f.name, type=base, default=None,
                                choices=choices, metavar=None if choices else f.name.upper(), help=text,
                                action=_Once if f.metadata.get("once") else "store")


def _train_parser(sub: Any) -> None:
    from ctxlearn.config import TrainConfig
    from ctxlearn.methods import METHODS

    p = sub.add_parser("train", help=HEAVY_COMMANDS["train"],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train one method on one data set. Writes OUT/ (weights, metrics.json, report.md, "
                                   "confusion.png, manifest.json). Example:\n  ctxlearn train --data train.csv --method lora --out runs/x")
    p.add_argument("--config", help="YAML recipe with any of the fields below; flags override it")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results on stdout")
    add_dataclass_flags(p, TrainConfig)
    for name in METHODS:
        group = p.add_argument_group(f"{name} options")
        add_dataclass_flags(group, METHODS.get(name).options, prefix=f"{name}_", dest_prefix=f"mo__{name}__")


def train_config(args: argparse.Namespace):
    from ctxlearn.config import TrainConfig, from_dict, read_recipe

    values = _recorded_run(args) or (read_recipe(TrainConfig, args.config) if args.config else {})
    options = dict(values.pop("method_options", None) or {})
    for key, val in vars(args).items():
        if val is None:
            continue
        if key.startswith("mo__"):
            _, method, field = key.split("__")
            options.setdefault(method, {})[field] = val
        elif key in {f.name for f in dataclasses.fields(TrainConfig)}:
            values[key] = val
    if not values.get("data"):
        alone = (f"; --resume --out {args.out} alone continues an interrupted run, and "
                 f"{args.out}.partial holds none") if args.resume and args.out else ""
        raise CtxlearnError("train: --data is required (a file, a folder with train/dev/test files, or "
                            f"builtin:NAME){alone}")
    # The recipe was checked alone (read_recipe), so a fault found now is a flag's: source None names the flag.
    return from_dict(TrainConfig, {**values, "method_options": options}, None)


def _recorded_run(args: argparse.Namespace) -> dict[str, Any]:
    """With --resume and --out but neither --data nor a recipe: the settings the interrupted run in
    OUT.partial was started with, which flags given now override (and --resume refuses those that differ).
    A command that names its data gives all its settings, as compare's cells do: a flag left out of it
    means its default, not what the interrupted run had."""
    if not (args.resume and args.out) or args.data or args.config:
        return {}
    from ctxlearn.train.dist import say
    from ctxlearn.train.resume import partial_of, recorded_settings

    recorded = recorded_settings(args.out)
    if recorded:
        say(f"--resume: the run in {partial_of(args.out)} was started with --data {recorded.get('data')} "
            f"--method {recorded.get('method')}; its settings are read from there")
    return recorded


def data_flag(args: argparse.Namespace) -> str:
    """Where a command's data was named, for an error that it is not there: a recipe's was said to be --data's."""
    if args.data is None and getattr(args, "config", None):
        return f"data: in {args.config}; a relative path is read from the folder the command runs in"
    return "--data"


def cmd_train(args: argparse.Namespace) -> int:
    from ctxlearn.data.folders import check_data_exists
    from ctxlearn.models.registry import check_model_name

    cfg = train_config(args)
    check_data_exists(cfg.data, data_flag(args))  # before the training libraries load
    check_model_name(cfg.model)
    from ctxlearn.train.run import run_training

    # stdout is for the result: the Trainer's progress bar writes its log lines there (tqdm.write)
    with contextlib.redirect_stdout(sys.stderr):
        result = run_training(cfg)
    if result is None:  # a launched run's other processes: the main one reports
        return 0
    if args.json or "epoch_seconds" in result:  # an estimate has no run folder to show
        print(json.dumps(result))
    else:
        print((Path(result["out"]) / "report.md").read_text())
    return 0


def _compare_parser(sub: Any) -> None:
    from ctxlearn.compare.budget import BUDGETS
    from ctxlearn.compare.run import CompareConfig

    budgets = "; ".join(f"{n}: {BUDGETS.get(n).help}" for n in BUDGETS)
    p = sub.add_parser("compare", help=HEAVY_COMMANDS["compare"],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Every method on the same splits and budget, each cell mean ± std over seeds.\n"
                                   "Finished cells are kept: rerun the same command to resume.\nBudgets: " + budgets +
                                   "\nExample:\n  ctxlearn compare --data ../shared/data/sst2 --methods full,head,lora --budget quick --out runs/cmp\n"
                                   "Flags after `--` go to every `ctxlearn train` cell, e.g. `-- --max-length 64`.")
    add_dataclass_flags(p, CompareConfig)
    p.add_argument("--json", action="store_true", help="print the per-method results as JSON")
    p.add_argument("train_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_compare)


def compare_config(args: argparse.Namespace) -> Any:
    """The CompareConfig of parsed ``compare`` flags; those after ``--`` go to every train cell."""
    from ctxlearn.compare.run import CompareConfig

    values = {k: v for k, v in vars(args).items() if v is not None and k in CompareConfig.__dataclass_fields__}
    return CompareConfig(**values, extra=[a for a in (args.train_args or []) if a != "--"])


def cmd_compare(args: argparse.Namespace) -> int:
    from ctxlearn.compare.run import run_compare

    cfg = compare_config(args)
    result = run_compare(cfg)
    if args.json:
        print(json.dumps(result, default=str))
    elif not cfg.estimate_only:  # --estimate-only: the estimates are on stderr, and there is no report
        print((Path(result["out"]) / "report.md").read_text())
    return 0


def _icl_parser(sub: Any) -> None:
    from ctxlearn.icl.config import IclConfig

    p = sub.add_parser("icl", help=HEAVY_COMMANDS["icl"],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Score test examples by prompting a causal LM with k demonstrations from train. Writes "
                                   "OUT/ like `train` (metrics.json, report.md, manifest.json, ...) plus icl.json. Example:\n"
                                   "  ctxlearn icl --data ../shared/data/sst2 --prompt sst2 --shots 4 --select knn --calibrate --out runs/icl")
    p.add_argument("--config", help="YAML recipe with any of the fields below; flags override it")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results on stdout")
    add_dataclass_flags(p, IclConfig)
    p.set_defaults(func=cmd_icl)


def cmd_icl(args: argparse.Namespace) -> int:
    from ctxlearn.data.folders import check_data_exists
    from ctxlearn.icl.config import icl_config
    from ctxlearn.models.registry import check_model_name

    cfg = icl_config(vars(args), args.config)
    check_data_exists(cfg.data, data_flag(args))  # before the model and its libraries load
    check_model_name(cfg.model)
    from ctxlearn.icl.run import run_icl

    result = run_icl(cfg)
    print(json.dumps(result) if args.json else (Path(result["out"]) / "report.md").read_text())
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ctxlearn.data.folders import check_data_exists

    check_data_exists(args.data)  # before the run's model and its libraries load
    from ctxlearn.artifact import EVAL, check_out
    from ctxlearn.errors import DataError
    from ctxlearn.lock import exclusive
    from ctxlearn.models.infer import progress
    from ctxlearn.predict import open_predictor
    from ctxlearn.train.dist import recorded_warnings

    fields = dict(text=args.text_field, text_pair=args.text_pair_field, label=args.label_field)
    predictor = None
    if args.out:  # neither the data nor the run itself may sit in the folder it replaces
        check_out(args.out, reads=args.data)
        check_out(args.out, reads=args.artifact, writes=EVAL)
    try:
        with progress("eval"), contextlib.nullcontext() if args.out is None else exclusive(args.out), \
                recorded_warnings() as notes:
            predictor = open_predictor(args.artifact, args.long_inputs, fields, args.threshold,
                                       tags=dict(tag_column=args.tag_column, tag_scheme=args.tag_scheme,
                                                 repair_tags=args.repair_tags))
            metrics = predictor.evaluate(args.data, args.out)
    except DataError as err:  # a file with no label column: texts to label, not to score
        if "label" not in err.missing or "label" in err.likely:
            raise
        from ctxlearn.predict_tagging import TaggingPredictor

        tagger = isinstance(predictor, TaggingPredictor)
        output = "predictions.jsonl" if tagger else "predictions.csv"  # JSON Lines: a tagger's only format
        raise CtxlearnError(f"{err}; eval scores a run against the gold labels of --data: to label texts that "
                            f"have none, run ctxlearn predict {args.artifact} --input {args.data} --output "
                            f"{output}") from None
    if args.out:
        print(f"[ctxlearn] wrote {args.out} (report.md, metrics.json, confusion.png, test_predictions.jsonl)",
              file=sys.stderr)
    reads = getattr(predictor, "long_inputs", None)  # how a text classifier read texts past its max_length
    if args.json:
        scores = {f"test_{k}": v for k, v in metrics.items() if not isinstance(v, (dict, list))}
        read = {"long_inputs": reads} if reads else {}  # a text classifier's
        print(json.dumps({**scores, **read, "warnings": notes}))  # as train --json: a doubtful score can be held back
    else:
        from ctxlearn.evaluate.report import confusion_text, interval

        if "per_type" in metrics:  # a tagging run: entity-level scores, type confusion
            print(f"sentences {metrics['n']}  entities {metrics['entities']}  precision {metrics['precision']:.4f}  "
                  f"recall {metrics['recall']:.4f}  F1 {metrics['f1']:.4f}")
            print(confusion_text(metrics["confusion"], metrics["confusion_labels"]))
            return 0
        if reads not in (None, "truncate"):
            print(f"texts longer than the run's max_length of {predictor.max_length} tokens were read in windows")
        print(f"n {metrics['n']}  accuracy {metrics['accuracy']:.4f} (95% interval {interval(metrics)})  "
              f"macro-F1 {metrics['macro_f1']:.4f}  ECE {metrics['ece']:.4f}  majority-class baseline "
              f"{metrics['majority_accuracy']:.4f} (always {metrics['majority_class']!r})")
        if metrics.get("threshold"):
            rule = metrics["threshold"]
            print(f"labels: {rule['label']!r} where its probability is at least {rule['value']:g}, else the most "
                  "probable other class")
        print(confusion_text(metrics["confusion"], list(metrics["per_class"])))
    return 0


INPUT_FILE = ("a file of texts to label (csv, tsv, jsonl, json, parquet, arrow; conll for tagging; txt: one per "
              "line), or - for standard input")


def cmd_predict(args: argparse.Namespace) -> int:
    from ctxlearn.data.folders import check_data_exists

    check_data_exists(args.input, "--input", INPUT_FILE, builtin=False)  # before the model and its libraries load
    from ctxlearn.data.inspect import count
    from ctxlearn.lock import exclusive
    from ctxlearn.predict import check_not_input, open_predictor

    check_not_input(args.input, args.output)
    fields = dict(text=args.text_field, text_pair=args.text_pair_field)
    with contextlib.nullcontext() if args.output == "-" else exclusive(args.output, "--output"):
        predictor = open_predictor(args.artifact, args.long_inputs, fields, args.threshold, args.skip_empty)
        n = predictor.predict_file(args.input, args.output)
    where = "standard output" if args.output == "-" else args.output
    print(f"wrote {count(n, 'prediction')} to {where}", file=sys.stderr)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    rows = _model_rows()
    if args.json:
        print(json.dumps(rows))
        return 0
    cached = [r for r in rows if r["source"] == "cache"]
    for row in (r for r in rows if r["source"] == "registry"):
        print(f"{row['name']:10s} {row['kind']:10s} {row['where']}")
    if cached:
        print("\nin the Hugging Face cache (hf: reads these offline):")
    for row in cached:
        print(f"{row['name']:40s} {row['kind']:10s} {row['where']}")
    print("\nalso: any local transformers folder, or hf:<repo-id> (downloaded into the Hugging Face cache; "
          "offline, read from that cache)")
    return 0


def _model_rows() -> list[dict[str, str]]:
    """The registered models (kind "missing" where their package is not installed) and the Hub models in the
    Hugging Face cache: name, kind, where the files are, and which of the two lists it is in (source)."""
    from ctxlearn.models import MODELS, resolve_model
    from ctxlearn.models.hub import cached_models

    rows = []
    for name in MODELS:
        try:
            src = MODELS.get(name)()
            pending = src.gguf and not Path(src.path).is_dir()  # after `ctxlearn cache clear` too
            where = f"{src.gguf} (converted to fp32 into {src.path} on first use)" if pending else src.path
            rows.append({"name": name, "kind": src.kind, "where": where, "source": "registry"})
        except CtxlearnError as err:
            rows.append({"name": name, "kind": "missing", "where": str(err), "source": "registry"})
    return rows + [{"name": name, "kind": resolve_model(str(folder)).kind, "where": str(folder), "source": "cache"}
                   for name, folder in cached_models()]


def cmd_methods(args: argparse.Namespace) -> int:
    """Each method, what it trains, the rate and epochs it is tuned for, and its own flags with their defaults."""
    from ctxlearn.methods import METHODS

    listed = []
    for name in METHODS:
        m = METHODS.get(name)
        flags = {f"--{name}-{f.name.replace('_', '-')}": f.default for f in dataclasses.fields(m.options)}
        listed.append({"name": name, "help": m.help, "gradient_steps": m.fit == "trainer",
                       "lr": m.lr if m.fit == "trainer" else None,
                       "epochs": m.epochs if m.fit == "trainer" else None, "options": flags})
    if args.json:
        print(json.dumps(listed))
        return 0
    for m in listed:
        tuned = f"lr {m['lr']:g}, epochs {m['epochs']:g}" if m["gradient_steps"] else "no gradient steps"
        print(f"{m['name']:8s} {m['help']}  [{tuned}]")
        if m["options"]:
            shown = ", ".join(_default_flag(flag, value) for flag, value in m["options"].items())
            print(textwrap.fill(shown, 120, initial_indent=" " * 9, subsequent_indent=" " * 9, break_long_words=False,
                                break_on_hyphens=False))
    print("\n`ctxlearn train --help` says what each option does; `--lr` and `--epochs` override the defaults.")
    return 0


def _default_flag(flag: str, value: Any) -> str:
    """A method option's flag as it reads at its default: ``--lora-r 8``, ``--no-lora-dora``, ``--lora-targets ''``."""
    if isinstance(value, bool):
        return flag if value else "--no-" + flag[2:]
    return f"{flag} {shlex.quote(str(value))}"


def cmd_runs(args: argparse.Namespace) -> int:
    from ctxlearn.runs import (find_evaluations, find_runs, find_unfinished, format_evaluations, format_runs,
                               format_unfinished, rows_json)

    rows = find_runs(Path(args.folder))
    if args.json:
        print(rows_json(rows))
        return 0
    if not rows:
        print(f"no run folders under {args.folder} (folders with a manifest.json, written by train, icl or export)")
    else:
        print(format_runs(rows))
        print("* the best test score on each data set (on each of its test splits, where runs cut other ones from "
              "one file or icl --limit scored part of one): accuracy for classification, entity F1 for tagging;\n"
              "warnings: how many the run gave of its data or its scores (its report.md lists them)"
              + ("\n- a compare cell its comparison's last run left out of its report (a method or seed since "
                 "dropped): not ranked" if any(r.left_out for r in rows) else ""))
    stopped = find_unfinished(Path(args.folder))
    if stopped:
        print(f"\nstopped before the end ({len(stopped)}), their work kept in OUT.partial:")
        print(format_unfinished(stopped))
    evaluations = find_evaluations(Path(args.folder))
    if evaluations:
        print(f"\nevaluations ({len(evaluations)}; eval --out): the run each scored, on which data, and its score")
        print(format_evaluations(evaluations))
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from ctxlearn.cache import KINDS, cache_dir, clear, megabytes, usage

    root = cache_dir()
    if args.cache_command == "clear":
        removed = clear(args.kinds)
        for u in removed:
            # not data.inspect's count, whose import loads scikit-learn
            entries = f"{u.entries} entr{'y' if u.entries == 1 else 'ies'}"
            print(f"removed {u.kind}: {entries}, {megabytes(u.bytes)}")
        print(f"freed {megabytes(sum(u.bytes for u in removed))} in {root}")
        return 0
    print(f"{root} (set CTXLEARN_CACHE to move it)")
    found = usage()
    for u in found:
        print(f"  {u.kind:10s} {u.entries:6d} {megabytes(u.bytes):>12s}  {KINDS[u.kind]}")
    print(f"  {'total':10s} {sum(u.entries for u in found):6d} {megabytes(sum(u.bytes for u in found)):>12s}")
    print("`ctxlearn cache clear [KIND ...]` removes them (all kinds unless named); each is remade when next needed")
    return 0


def _cache_parser(sub: Any) -> None:
    from ctxlearn.cache import KINDS

    p = sub.add_parser("cache", help="what ctxlearn keeps in its cache folder, and clearing it",
                       description="List (the default) or clear what ctxlearn caches under $CTXLEARN_CACHE "
                       "(default ~/.cache/ctxlearn). Models downloaded with hf: live in the Hugging Face cache, "
                       "which `hf cache ls` and `hf cache rm` manage.",
                       epilog="examples:\n  ctxlearn cache                  # each kind's entries and size\n"
                              "  ctxlearn cache clear features   # free the head runs' features (recomputed when "
                              "needed)", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=cmd_cache, cache_command="list")
    kinds = p.add_subparsers(dest="cache_command")
    kinds.add_parser("list", help="entries and size of each kind")
    clear = kinds.add_parser("clear", help="remove cached entries (all kinds unless named)")
    clear.add_argument("kinds", nargs="*", type=_cache_kind, metavar="KIND",  # choices= refuses an empty list
                       help=f"what to remove: {', '.join(KINDS)} (default: all)")


def _cache_kind(name: str) -> str:
    from ctxlearn.cache import KINDS

    if name not in KINDS:
        raise argparse.ArgumentTypeError(f"unknown kind {name!r}{did_you_mean(name, KINDS)}; "
                                         f"choose from {', '.join(KINDS)}")
    return name


def _inspected(args: argparse.Namespace, tagged: bool) -> tuple[Any, list[str]]:
    """The splits ``data inspect`` reports on, and a warning for each file whose I- tags continue no entity:
    tags are read repaired, so such a tag does not stop the report; without --repair-tags train refuses them."""
    import warnings

    from ctxlearn.config import check_folds, check_seed, check_shares, split_settings
    from ctxlearn.data import Fields, load_splits
    from ctxlearn.data.inspect import count
    from ctxlearn.data.tagged import tag_options
    from ctxlearn.data.tagged_splits import load_tagged_splits
    from ctxlearn.data.tags import RepairedTags
    from ctxlearn.train.dist import raised_by_ctxlearn

    check_shares(args, ("dev_fraction", "test_fraction"), 0.1)
    check_folds(args)
    check_seed(args.seed)
    cut = split_settings(vars(args))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = (load_tagged_splits(args.path, tag_options({**vars(args), "repair_tags": True}), **cut) if tagged
                  else load_splits(args.path, Fields(args.text_field, args.label_field, args.text_pair_field), **cut))
    refused, read = [], []  # the report's warnings: what train would refuse, then what the readers said
    for w in caught:
        if isinstance(w.message, RepairedTags) and not args.repair_tags:
            refused.append(f"{w.message.path}: {count(w.message.count, 'I- tag')} continuing no entity (the first on "
                           f"line {w.message.line}), which train refuses: start each entity with B-, or pass "
                           "--repair-tags to read such tags as B-")
        elif raised_by_ctxlearn(w.filename):  # rows skipped, files not read: as train keeps them
            read += [str(w.message)] if str(w.message) not in read else []
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return splits, refused + read


def cmd_inspect(args: argparse.Namespace) -> int:
    from ctxlearn.data.inspect import format_report, inspect_splits, inspect_tagged
    from ctxlearn.data.tagged_splits import is_tagging_data

    tagged = args.task == "tagging" or args.task == "auto" and is_tagging_data(args.path, args.text_field,
                                                                               args.label_field)
    splits, refused = _inspected(args, tagged)
    tokenizer = None
    if args.model:
        from transformers import AutoTokenizer

        from ctxlearn.models import resolve_model

        tokenizer = AutoTokenizer.from_pretrained(resolve_model(args.model).path)
    report = (inspect_tagged if tagged else inspect_splits)(splits, tokenizer, args.max_length)
    report["warnings"] = refused + report["warnings"]
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _long_inputs_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--long-inputs", choices=READINGS, default=None,
                   help="fine-tuned classifiers: read texts longer than the run's max_length truncated or in "
                        "windows (default: as the run was trained; windows on a run trained truncated = train "
                        "short, test long)")


def threshold_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threshold", metavar="CLASS=P", default=None, action=_Once,
                   help="label a text CLASS once its probability reaches P, else the most probable other class "
                        "(default: the most probable class); one class, once. For a rare class: a train run's "
                        "report.md gives the threshold with the best F1 on dev, e.g. spam=0.27")


def _train_field(name: str) -> dataclasses.Field:
    from ctxlearn.config import TrainConfig

    return {f.name: f for f in dataclasses.fields(TrainConfig)}[name]


def _train_flags(p: argparse.ArgumentParser, names: tuple[str, ...], of_run: bool = False) -> None:
    """Flags for training settings, with train's help: ``of_run`` defaults them to the run's own value
    (eval, predict: a held-out file whose columns are named otherwise), else to train's default."""
    for name in names:
        field, flag = _train_field(name), _flag(name)
        if isinstance(field.default, bool):
            p.add_argument(flag, action="store_true", help=field.metadata["help"])
            continue
        default, shown = (None, "the run's") if of_run else (field.default, field.default)
        p.add_argument(flag, type=type(field.default) if field.default is not None else str, default=default,
                       help=field.metadata["help"] + (f" (default: {shown})" if shown is not None else ""))


def _field_flags(p: argparse.ArgumentParser, label: bool, of_run: bool = True) -> None:
    """Columns of a file whose header differs from the training data's."""
    _train_flags(p, ("text_field", "text_pair_field", *(["label_field"] if label else [])), of_run)


def _tag_flags(p: argparse.ArgumentParser, of_run: bool = False) -> None:
    """How tagging files are read, as `train` reads them (its fields' help and defaults; ``of_run``: eval's
    held-out file, read as the run read its data unless a flag says otherwise)."""
    _train_flags(p, ("tag_column", "tag_scheme", "repair_tags"), of_run)


FIRST_STEPS = """\
first steps, offline, on built-in data (--data also takes your own .csv, .tsv or .jsonl file,
or a folder of train, dev and test files):
  ctxlearn data inspect builtin:trec                                  # counts, lengths, warnings
  ctxlearn compare --data builtin:trec --budget quick --out runs/cmp  # which method is best, at what cost
  ctxlearn train --data builtin:trec --method lora --out runs/trec    # one method: a run folder
  ctxlearn predict runs/trec --input questions.txt --output labels.csv
Every command has its own --help; `ctxlearn train --help` explains each setting."""


# The commands whose flags come from modules that import torch, transformers and peft (train's method
# options, the icl and compare configs, the from-scratch configs: 5 s), with the help --help lists them
# by: their flags are built only when one of them runs, so --help and the other commands start at once.
HEAVY_COMMANDS = {"train": "adapt a backbone to labelled data and write a run folder",
                  "icl": "label data by in-context learning with a causal LM (no training)",
                  "compare": "run several methods on the same data and report which is best",
                  "tokenizer": "train a tokenizer on a corpus",
                  "pretrain": "pretrain a Transformer from scratch (MLM, CLM or contrastive)",
                  "lengths": "which position encoding extrapolates: perplexity at 1x..8x the training length"}


def _scratch_parsers(sub: Any) -> None:
    from ctxlearn.scratch.cli import add_commands

    add_commands(sub)


class Parser(argparse.ArgumentParser):
    """argparse's parser (its subcommands' too), naming the flag or choice a mistyped one was likely meant as:
    ``--methd lora`` says "did you mean '--method'?" where argparse listed only the stray words."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        parsed, extra = super().parse_known_args(args, namespace)
        for arg in extra:
            flag = arg.split("=", 1)[0]
            hint = did_you_mean(flag, self._option_string_actions) if flag.startswith("--") else ""
            if hint:
                self.error(f"unrecognized argument {arg}{hint}")
        return parsed, extra

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """A value outside a flag's or subcommand's choices (``trian``, ``--long-inputs window``) names the
        choice it was likely meant as, ahead of argparse's list of them all."""
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as error:
            hint = did_you_mean(str(value), map(str, action.choices or ()))
            if not hint:
                raise
            raise argparse.ArgumentError(action, error.message.replace(repr(value), f"{value!r}{hint}", 1)) from None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``ctxlearn`` parser; given the ``argv`` it is to parse, the ``HEAVY_COMMANDS`` get their flags
    only when ``argv`` runs them (all of them without ``argv``)."""
    parser = Parser(prog="ctxlearn", description="Adapt pretrained Transformers to your text task "
                    "and see which way of adapting works best.", epilog=FIRST_STEPS,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    heavy = ((["train"], _train_parser), (["icl"], _icl_parser), (["compare"], _compare_parser),
             (["tokenizer", "pretrain", "lengths"], _scratch_parsers))
    for names, build in heavy:
        if argv is None or argv[:1] and argv[0] in names:
            build(sub)
        else:
            for name in names:
                sub.add_parser(name, help=HEAVY_COMMANDS[name])
    add_serve_parser(sub)
    add_export_parser(sub)
    p = sub.add_parser("eval", help="score a run folder on labelled data",
                       description="Score a run folder on labelled data: accuracy with its 95% interval, macro-F1, "
                       "ECE, the majority-class baseline and the confusion matrix (entity F1 for a tagging run).",
                       epilog="examples:\n"
                              "  ctxlearn eval runs/x --data holdout.csv                      # all of a held-out "
                              "file\n"
                              "  ctxlearn eval runs/x --data builtin:trec --json              # the run's own test "
                              "split, for scripts\n"
                              "  ctxlearn eval runs/x --data holdout.csv --out runs/x-holdout # and a report folder",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("artifact", help="run folder written by `ctxlearn train` or `ctxlearn icl`")
    p.add_argument("--data", required=True, help="labelled file (all of it is scored; the file the run was cut "
                   "from: its test split), or a data folder or builtin:NAME (its test split)")
    p.add_argument("--json", action="store_true", help="print test_* metrics as one JSON object")
    p.add_argument("--out", help="also write a report folder: report.md (with the errors the model was surest of), "
                   "metrics.json, confusion.png and .txt, and every prediction in test_predictions.jsonl")
    _field_flags(p, label=True)
    _tag_flags(p, of_run=True)  # its errors name them: a held-out file with one slip, or its tags in another column
    _long_inputs_flag(p)
    threshold_flag(p)
    threads_flag(p)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("predict", help="label a file with a run folder",
                       description="Label a file with a run folder. A long file is labelled in parts (2,048 inputs; "
                                   "64 or 256 for icl runs) with a progress line after each; the finished parts are kept in "
                                   "OUTPUT.partial until the output is written, so the same command, run again after "
                                   "an interruption, labels only the parts it lacks.\nExample:\n  ctxlearn predict "
                                   "runs/x --input new.csv --output predictions.csv",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("artifact", help="run folder written by `ctxlearn train` or `ctxlearn icl`")
    p.add_argument("--input", required=True,
                   help=".csv/.tsv/.jsonl/.json/.parquet with the text field(s) the model was trained on, "
                   "or .txt (one text per line; not for pair models); tagging runs: .jsonl with tokens or text, "
                   ".conll, .csv/.tsv with a text column, or .txt (one text per line); - reads texts from standard "
                   "input, one per line")
    p.add_argument("--output", required=True, help=".csv, .tsv (unquoted, as ctxlearn reads TSV: tabs and line breaks "
                   "in text become spaces), .jsonl or .json (one array): the input line, the input's other columns "
                   "(input_NAME where the output has NAME: a gold label), the text, label and one p_<class> column "
                   "per class; "
                   "tagging runs: .jsonl with tags and entity spans (type, text, character offsets); "
                   "- writes JSON Lines to standard output")
    _field_flags(p, label=False)
    _long_inputs_flag(p)
    threshold_flag(p)
    p.add_argument("--skip-empty", action="store_true",
                   help="label the rows that have text and leave out those whose text is empty or missing (a "
                   "warning names their lines; each output row names its input line); without it, such a row is "
                   "an error. Not for tagging runs")
    threads_flag(p)
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("models", help="list the models available offline")
    p.add_argument("--json", action="store_true", help="print one JSON list: name, kind, where, source")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("methods", help="list the adaptation methods, their defaults and their own flags")
    p.add_argument("--json", action="store_true", help="print one JSON list: name, help, lr, epochs, options")
    p.set_defaults(func=cmd_methods)
    p = sub.add_parser("runs", help="the run folders under a folder, side by side: data, method, test score, cost",
                       description="List the run folders (train, icl, export) under FOLDER with their task, data, "
                       "method, test score and cost, best test score first on each data set; read from their "
                       "manifest.json and metrics.json, so no model is loaded. Then the train runs that were stopped "
                       "before the end (their OUT.partial), how far each got and the command that continues it.",
                       epilog="examples:\n  ctxlearn runs                 # the runs under runs/\n"
                              "  ctxlearn runs runs/cmp --json # one JSON list, for scripts",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", nargs="?", default="runs", help="where to look, every level down (default: runs)")
    p.add_argument("--json", action="store_true", help="print one JSON list of the finished runs")
    p.set_defaults(func=cmd_runs)
    _cache_parser(sub)
    data = sub.add_parser("data", help="look at data before training").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("inspect", help="counts, label distribution, token lengths, warnings")
    p.add_argument("path", help="a file, a folder with train/dev/test files, or builtin:NAME")
    p.add_argument("--model", default="minilm", help="tokenizer for the length percentiles ('' to skip)")
    p.add_argument("--max-length", type=int, default=128, help="warn about examples longer than this")
    p.add_argument("--task", choices=("auto", "classification", "tagging"), default="auto",
                   help=f"{_train_field('task').metadata['help']}, as train reads it (default: auto)")
    _field_flags(p, label=True, of_run=False)
    _tag_flags(p)
    _train_flags(p, ("dev_fraction", "test_fraction", "folds", "fold", "seed"))  # the splits train would cut
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_inspect)
    return parser


def _plain_warnings() -> None:
    """ctxlearn's own warnings read as one line, as its errors do; other libraries' keep Python's format."""
    import warnings

    default = warnings.formatwarning

    def one_line(message: Any, category: type, filename: str, lineno: int, line: str | None = None) -> str:
        if "/ctxlearn/" in filename.replace("\\", "/"):
            return f"ctxlearn: warning: {message}\n"
        return default(message, category, filename, lineno, line)

    warnings.formatwarning = one_line


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    if args.command == "train":
        args.func = cmd_train
    quiet_libraries()
    _plain_warnings()
    try:
        with terminated_as_interrupted(args.command != "serve"):  # uvicorn drains requests on SIGTERM, then exits
            use_threads(args)
            return args.func(args)
    except CtxlearnError as err:
        print(f"ctxlearn: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        from ctxlearn.train.dist import is_main  # a light module: no torch at every start-up

        if is_main():  # a launched run's main process speaks for all
            hint = on_interrupt(args, getattr(err, "step", None))
            print(f"ctxlearn: interrupted{'; ' + hint if hint else ''}", file=sys.stderr)
        return 128 + getattr(err, "signum", signal.SIGINT)
    except BrokenPipeError:  # `ctxlearn predict ... --output - | head`: the reader has gone; say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail again
        return 1
    except OSError as err:  # the file system refused: no permission, a full disk, a file where a folder goes
        full = err.errno == errno.ENOSPC
        print(f"ctxlearn: error: {os_error(err)}{'; ' + free_space_hint(args) if full else ''}", file=sys.stderr)
        return 1
    except Exception as err:  # torch and safetensors raise their own errors when a write fails
        disk = full_disk(err, args)
        if disk is None:
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"ctxlearn: error: {disk} ({type(err).__name__}: {first}); {free_space_hint(args)}", file=sys.stderr)
        return 1


@contextlib.contextmanager
def terminated_as_interrupted(enabled: bool = True) -> typing.Iterator[None]:
    """SIGTERM (a scheduler's preemption, `docker stop`, `timeout`) or SIGHUP (the terminal closed) ends a
    command as Ctrl-C does: what it keeps is kept and the way on is said, where the default would end it
    without a word (and leave a comparison's cell running on). Not for a signal with a handler already (an
    application that runs ``main``; nohup's ignored SIGHUP), nor off the main thread."""
    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    with handled(ENDING_SIGNALS if enabled else (), interrupt, only_default=True):
        yield


def os_error(err: OSError) -> str:
    """An operating-system error as one line: what failed, on which path."""
    paths = " -> ".join(str(p) for p in (err.filename, err.filename2) if p is not None)
    return f"{paths}: {err.strerror or err}" if paths else str(err.strerror or err)


LOW_DISK = 100 * 2**20  # bytes free under which a failed write is put down to a full disk


def full_disk(err: Exception, args: argparse.Namespace) -> str | None:
    """What a full disk did, where it caused ``err``: a library's write error that names it (safetensors:
    "No space left on device"), or one that does not (torch: "unexpected pos") while the disk holding the
    command's output has under ``LOW_DISK`` bytes free; None otherwise."""
    folder = Path(getattr(args, "out", None) or getattr(args, "output", None) or ".").absolute()
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    said = "No space left on device" in str(err) or "os error 28" in str(err)
    return f"the disk holding {folder} is full ({free / 2**20:,.0f} MB free)" if said or free < LOW_DISK else None


def free_space_hint(args: argparse.Namespace) -> str:
    """What to do once the disk is full: free space (the cache, which ctxlearn remakes, is one place), then
    rerun as the command's interruption hint says."""
    from ctxlearn.cache import megabytes, usage

    cached = sum(u.bytes for u in usage())
    cache = f" (`ctxlearn cache clear` frees {megabytes(cached)} that ctxlearn remakes when needed)" if cached else ""
    return f"free space{cache}, then {on_interrupt(args) or 'run the command again'}"


def on_interrupt(args: argparse.Namespace, step: int | None = None) -> str:
    """How to go on from an interrupted command (``ON_INTERRUPT``); a train run with --out is named whole, and
    the ``step`` it saved a checkpoint at on stopping, where it did."""
    from ctxlearn.compare.command import CELL_OF

    hint = ON_INTERRUPT.get(args.command, "")
    comparison = os.environ.get(CELL_OF) if args.command == "train" else None
    if comparison:  # `train --resume` would finish the cell outside the comparison, which then ran it again
        hint = (f"this run is a cell of the comparison in {comparison}: rerun its compare command to go on "
                f"(`ctxlearn runs {shlex.quote(comparison)}` shows it)")
    if step:  # train and pretrain, stopped by a signal
        hint = f"a checkpoint was saved at step {step}; {hint}"
    if args.command == "train" and getattr(args, "out", None) and not comparison:
        from ctxlearn.train.dist import launch_command, world_size

        hint += (f" (`{launch_command(world_size())} train --out {shlex.quote(args.out)} --resume` is enough: it reads "
                 "the run's settings)")
    return hint


# What an interrupted command kept, and how to go on from it.
ON_INTERRUPT = {"train": "rerun with --resume to continue training from the last checkpoint",
                "predict": "rerun the same command to continue: the parts already labelled are kept in OUTPUT.partial (not for --output -)",
                "pretrain": "rerun with --resume to continue from the last checkpoint",
                "icl": "rerun the same command to continue: the parts already scored are kept in OUT.partial",
                "compare": "rerun the same command to continue: finished cells are kept, and the one stopped goes on "
                           "from its checkpoint",
                "lengths": "rerun the same command to continue: finished models are kept"}


if __name__ == "__main__":
    sys.exit(main())
