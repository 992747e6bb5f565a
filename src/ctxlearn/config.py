"""Run configuration: typed dataclasses whose field docs become ``--help``; YAML only to save/load."""
from __future__ import annotations

import dataclasses
import itertools
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ctxlearn.errors import ConfigError
from ctxlearn.registry import did_you_mean


READINGS = ("truncate", "windows")  # how one split's texts longer than max_length are read (``train.encode``)
LONG_INPUTS = (*READINGS, "train-short")  # a run's choice; train-short: train truncated, read the rest in windows
HEAD_INITS = ("auto", "prior", "random", "probe")  # how a gradient-trained head starts (``train.run.start_head``)
IMBALANCE_RATIO = 5.0  # largest / smallest class count above which inspect warns and head_init auto uses the prior
CLASS_WEIGHTS = ("none", "balanced")  # how examples weigh in training (``train.loss.class_weights``)


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        guess = did_you_mean(value, allowed) if isinstance(value, str) else ""
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {value!r}{guess}", field=name)
    return value


def check_at_least(cfg: Any, least: dict[str, float]) -> None:
    """A ConfigError naming the first field of ``cfg`` below its least value in ``least`` (name: value)."""
    for name, low in least.items():
        if getattr(cfg, name) < low:
            raise ConfigError(f"{name} must be >= {low:g}, not {getattr(cfg, name)}", field=name)


def check_shares(cfg: Any, names: tuple[str, ...], example: float) -> None:
    """A ConfigError naming the first of the fields ``names`` of ``cfg`` outside [0, 1)."""
    for name in names:
        if not 0 <= getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be in [0, 1), e.g. {example:g}, not {getattr(cfg, name)}", field=name)


SEED_RANGE = 2**32  # numpy's and torch's seeds, which a run's seed becomes: 0 to 2**32 - 1


def check_seed(seed: int) -> None:
    if not 0 <= seed < SEED_RANGE:
        raise ConfigError(f"seed must be in 0 .. 2**32 - 1 (numpy and torch take no other), not {seed}", field="seed")


def check_long_inputs(value: str) -> str:
    return check_choice("long_inputs", value, LONG_INPUTS)


def check_choices(cfg: Any) -> None:
    """Refuse a value outside its field's ``choices`` (``opt``), for configs from YAML or Python; on the
    command line argparse refuses it first, from the same list."""
    for f in dataclasses.fields(cfg):
        if f.metadata.get("choices"):
            check_choice(f.name, getattr(cfg, f.name), f.metadata["choices"])


def reading(long_inputs: str, split: str) -> str:
    """How ``split`` (train, dev, test, or predict) reads long texts in a run made with ``long_inputs``."""
    if long_inputs == "train-short":
        return "truncate" if split == "train" else "windows"
    return long_inputs


_NAMELESS = {"data", "dataset", "datasets", "train", "training"}  # names that say nothing of which data


def default_out(data: str, method: str) -> str:
    """The run folder of a run given no --out: runs/DATA-METHOD, DATA the data's name without its suffix
    (builtin:trec, trec.csv and a folder trec/ are all "trec"), or the name of the folder above one named
    like the Hub's data/ or a train file (sst2/data, sst2/train.csv: "sst2")."""
    path = Path(data.removeprefix("builtin:"))

    def stem(p: Path) -> str:  # train.jsonl.gz is "train", as readers.file_stem says
        return Path(p.name.removesuffix(".gz")).stem

    while stem(path).lower() in _NAMELESS and path.parent.name:
        path = path.parent
    return f"runs/{stem(path) or 'run'}-{method}"


SAME_RUN_IGNORES = ("out", "resume", "threads")  # settings that do not make a run another run


def free_run_folder(base: str, settings: dict[str, Any], record: str = "config.yaml",
                    finished: str = "manifest.json") -> str:
    """Where a run given no --out writes: ``base`` (``default_out``), or where that holds a finished run of other
    settings, the first of ``base``-2, -3, ... that is free, holds an interrupted run to go on with
    (OUT.partial), or holds a finished run of these ``settings`` (``to_dict`` of the config, as the run saved it
    in ``record``; ``finished``: a file only a finished run has), which a rerun of the same command replaces. A
    run named by no one never replaces another run's results."""
    names = (base if n == 1 else f"{base}-{n}" for n in itertools.count(1))
    return next(name for name in names if Path(f"{name}.partial").exists() or not (Path(name) / finished).is_file()
                or _same_settings(Path(name) / record, settings))


def _same_settings(path: Path, settings: dict[str, Any]) -> bool:
    try:
        saved = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    drop = set(SAME_RUN_IGNORES)
    return isinstance(saved, dict) and ({k: v for k, v in saved.items() if k not in drop}
                                        == {k: v for k, v in settings.items() if k not in drop})


def other_run_note(out: str, base: str) -> str | None:
    """What to say where a run given no --out writes ``out`` because ``base`` holds another run."""
    if out == base or not re.fullmatch(re.escape(base) + r"-\d+", out):
        return None
    return (f"{base} holds a run with other settings, which this one leaves as it is: it writes {out} (--out names "
            "the folder)")


def opt(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with one line of help (shown by the CLI)."""
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class DataOptions:
    """Where the labelled data is and which fields hold what (shared by ``train`` and ``icl``)."""

    data: str = opt("", "labelled data: a file (.csv/.tsv/.jsonl/.json, gzipped too, .parquet/.arrow), a folder "
                        "with train/dev/test files (or shards, or a folder per split), or builtin:NAME")
    text_field: str = opt("text", "column/key holding the text (without a text field, premise/hypothesis, "
                                  "sentence1/sentence2, question1/question2 or sentence are found); tagging data: "
                                  "the key of a record's token list or raw text (tokens or text when left unset)")
    text_pair_field: str | None = opt(None, "column/key holding the second text of a pair task (left unset: found "
                                            "with the text, as --text-field says)")
    label_field: str = opt("label", "column/key holding the label; tagging data: the key of a record's tags or "
                                    "entity spans (tags, ner_tags, labels or entities when left unset)")
    dev_fraction: float = opt(0.1, "share of train held out as dev when no dev file is given (stratified by label "
                                   "and seeded; every copy of a repeated text goes to the same side, texts differing "
                                   "only in case or spacing counting as copies)")
    test_fraction: float = opt(0.1, "share of train held out as test when no test file is given (cut as dev is)")
    folds: int = opt(0, "cross-validation: with no test file, cut the data into this many folds (by seed; stratified "
                        "by label, tagging data by each sentence's rarest entity type; copies of a text in one fold) "
                        "and test on fold --fold, in place of --test-fraction; runs of folds 0 to N-1 test every "
                        "example once (compare --folds N runs them). 0 = off")
    fold: int = opt(0, "which of the --folds is the test split, from 0")

    def __post_init__(self) -> None:
        check_shares(self, ("dev_fraction", "test_fraction"), 0.1)
        check_folds(self)


def check_folds(cfg: Any) -> None:
    """A ConfigError for a --folds / --fold pair that names no test fold, or --folds beside --test-fraction."""
    check_at_least(cfg, {"folds": 0, "fold": 0})
    if cfg.folds == 1:
        raise ConfigError("folds 1: cross-validation needs at least 2 folds (0 turns it off)", field="folds")
    if cfg.fold and not cfg.folds:
        raise ConfigError(f"fold {cfg.fold} without folds: give the number of folds too, e.g. --folds 5", field="fold")
    if cfg.folds and cfg.fold >= cfg.folds:
        raise ConfigError(f"fold {cfg.fold}: the {cfg.folds} folds are numbered 0 to {cfg.folds - 1}", field="fold")
    if cfg.folds and cfg.test_fraction != DataOptions.__dataclass_fields__["test_fraction"].default:
        raise ConfigError(f"test_fraction {cfg.test_fraction} and folds {cfg.folds} both size the test split (one fold "
                          f"is 1/{cfg.folds} of the data); give one of them", field="test_fraction")


@dataclass
class TrainConfig(DataOptions):
    task: str = opt("auto", "classification or tagging (auto: tagging for .conll data or JSON Lines with tokens/entities)")
    tag_column: int = opt(-1, "tagging, CoNLL: the column holding the tag, counted from 0 (-1 = last)")
    tag_scheme: str = opt("auto", "tagging: how the tags are written, IO, IOB1, BIO (IOB2) or BIOES (IOBES, BILOU) "
                          "(auto = detect); read as BIO")
    repair_tags: bool = opt(False, "tagging: turn an I- tag that continues no entity into B- with a warning, instead of an error")
    model: str = opt("minilm", "backbone: a registered name (see `ctxlearn models`), "
                     "a local folder, or hf:<repo-id>[@revision]")
    method: str = opt("full", "how to adapt the backbone (see `ctxlearn methods`)")
    out: str = opt("", "run folder to write (the artifact); unset, runs/DATA-METHOD (runs/trec-lora), so runs of "
                       "other data or methods keep their folders and a rerun replaces its own; where it holds a run "
                       "of other settings, runs/DATA-METHOD-2 and on")
    max_train: int = opt(0, "use at most this many training examples (0 = all), a seeded sample: stratified by label "
                            "where it can be and keeping every label, for classification; at random, for tagging")
    max_length: int = opt(128, "longest input in tokens: classification truncates longer texts (a pair's longer side "
                               "first); tagging splits a longer sentence into overlapping windows and tags every word")
    long_inputs: str = opt("truncate", "classification: a text longer than max_length is truncated to its start; or "
                                        "read whole in windows of max_length tokens overlapping by half, each trained "
                                        "on with the text's label, their logits averaged (weighted by tokens) to "
                                        "predict (windows); or trained on truncated and read in windows to evaluate and "
                                        "predict (train-short); tagging always reads long sentences in windows",
                           choices=LONG_INPUTS)
    epochs: float = opt(0.0, "training epochs (0 = the method's default)")
    batch_size: int = opt(32, "training batch size")
    lr: float = opt(0.0, "peak learning rate (0 = the method's default)")
    weight_decay: float = opt(0.01, "AdamW weight decay")
    warmup_ratio: float = opt(0.06, "share of steps spent warming the learning rate up, then linear decay")
    label_smoothing: float = opt(0.0, "share of each target spread evenly over all labels in the training loss "
                                      "of gradient-trained methods (Szegedy et al. 2016; 0 = plain cross-entropy)")
    class_weights: str = opt("none", "weigh each class in the training loss (and the head's fit) equally in total, "
                                     "so a rare class counts as much as a common one (balanced: n / (classes x "
                                     "count), scikit-learn's rule); none: every example weighs the same",
                             choices=CLASS_WEIGHTS)
    head_init: str = opt("auto", "how the head of a gradient-trained method starts. prior: random weights (std "
                                 "0.02) and each class's bias at the log of its share of the training loss, so "
                                 "the first steps need not bend the backbone to learn how common each class is "
                                 "(it matters on imbalanced data); random: zero bias, as transformers starts it; "
                                 f"auto: prior where the largest training class has over {IMBALANCE_RATIO:g} times the "
                                 "rows of the smallest (data inspect's imbalance warning), else random; probe: a "
                                 "linear probe fitted on the frozen backbone's cached features (LP-FT, Kumar et al. "
                                 "2022)",
                         choices=HEAD_INITS)
    evals_per_epoch: float = opt(1, "evaluations on dev (each with a checkpoint) per epoch: above 1, one every 1/N "
                                    "of an epoch's steps and one at the last step; below 1, one every 1/N epochs' "
                                    "steps (0.1: every 10 epochs, for a small sample's short epochs); the best is "
                                    "kept, and --patience counts them")
    patience: int = opt(2, "stop after this many evaluations on dev without improvement (0 = never)")
    bf16: str = opt("auto", "bf16 mixed precision: auto (on where the hardware has bf16), on, off",
                    choices=("auto", "on", "off"))
    seed: int = opt(0, "seed for splits, initialisation, data order and dropout")
    threads: int = opt(0, "CPU threads for torch (0 = all cores)")
    estimate_steps: int = opt(0, "only measure: run this many training steps and print the predicted time per epoch "
                                 "and peak memory, then stop without writing a run folder (0 = train)")
    resume: bool = opt(False, "continue an interrupted run from its last checkpoint in OUT.partial (Ctrl-C or "
                              "SIGTERM saves one at the step it stops); with --out and no --data, the settings it "
                              "was started with are read from there")
    method_options: dict[str, dict[str, Any]] = opt(None, "method-specific options (set with --<method>-<option> flags)")

    def __post_init__(self) -> None:
        from ctxlearn.methods import METHODS  # here: methods import this module

        super().__post_init__()
        if self.method_options is None:
            self.method_options = {}
        check_choices(self)
        METHODS.get(self.method, field="method")
        check_shares(self, ("label_smoothing", "warmup_ratio"), 0.1)
        check_at_least(self, {"batch_size": 1, "max_length": 8, "epochs": 0, "lr": 0, "weight_decay": 0, "max_train": 0,
                              "patience": 0, "threads": 0, "estimate_steps": 0})  # 0: the least, or the default
        if not self.evals_per_epoch > 0:
            raise ConfigError(f"evals_per_epoch must be above 0, not {self.evals_per_epoch} (0.5: one evaluation "
                              "every 2 epochs)", field="evals_per_epoch")
        check_seed(self.seed)
        self.out = self.out or free_run_folder(default_out(self.data, self.method), to_dict(self))


SPLIT_SETTINGS = ("seed", "dev_fraction", "test_fraction", "folds", "fold")  # what cuts a run's splits from its data


def split_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that cut splits from data, as ``load_splits`` takes them, from ``settings`` (a config's
    fields, a run's saved config, a command's flags); a setting it lacks (a run saved before the setting
    existed) takes the default that run was made with."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    return {name: settings.get(name, defaults[name]) for name in SPLIT_SETTINGS}


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def save_yaml(data: dict[str, Any], path: Path) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, which also reads ``2e-3`` as a number: YAML 1.1 wants a dot (``2.0e-3``), so the
    learning rates the README writes were refused in a recipe as "lr must be a number, not '2e-3'"."""


RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
                                   list("-+0123456789"))


def refuse_repeated_keys(node: Any, path: Path) -> None:
    """A key given twice in one mapping of a recipe: YAML keeps the last, so the first was dropped without a word
    (``max_length: 64`` overridden by a ``max_length: 32`` further down)."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            refuse_repeated_keys(item, path)
    if not isinstance(node, yaml.MappingNode):
        return
    first: dict[Any, int] = {}
    for key, value in node.value:
        line, same = key.start_mark.line + 1, (key.tag, getattr(key, "value", None))  # 1 and '1' are two keys
        if isinstance(key, yaml.ScalarNode) and same in first and key.value != "<<":
            raise ConfigError(f"{path}:{line}: {key.value} given twice (also line {first[same]}); give it once")
        first.setdefault(same, line)
        refuse_repeated_keys(value, path)


def load_yaml(path: str | Path) -> dict[str, Any]:
    return load_yaml_node(path)[0]


def load_yaml_node(path: str | Path) -> tuple[dict[str, Any], Any]:
    """A YAML mapping file's values, and its composed node, whose marks give each key's line (``key_lines``):
    the file is read and parsed once for both."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    loader = RecipeLoader(path.read_text())
    try:  # what yaml.safe_load does, keeping the node
        node = loader.get_single_node()
        refuse_repeated_keys(node, path)
        data = (loader.construct_document(node) if node is not None else None) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of field: value at the top level")
    return data, node


def key_lines(node: Any, *under: str) -> dict[str, int]:
    """The line (from 1) of each key of a composed YAML mapping, so an error can point at it: the top-level
    keys, or those of the mapping found by following the keys ``under`` (``"method_options", "lora"``)."""
    for name in under:
        inner = [value for key, value in node.value if key.value == name] if isinstance(node, yaml.MappingNode) else []
        node = inner[-1] if inner else None
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {key.value: key.start_mark.line + 1 for key, _ in node.value if isinstance(key, yaml.ScalarNode)}


def refuse_changes(before: dict[str, Any], now: dict[str, Any], where: str) -> None:
    """--resume continues only the run it was started as: each of ``now`` (values that decide the model,
    the data or the schedule) must equal what ``where`` was made with, or the two runs would mix."""
    for name, value in now.items():
        if before.get(name) != value:
            raise ConfigError(f"--resume: {name} is {value!r}, but {where} was made with {before.get(name)!r}; "
                              "rerun with the same value, or delete it and rerun without --resume to start over")


KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text", dict: "a mapping",
         list: "a list"}


def _union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def fits(hint: Any, value: Any) -> bool:
    """Whether ``value``, as YAML or a caller gives it, is of a field's type ``hint``. An int is a number;
    true is not (YAML reads yes/no as booleans, and ``True < 1`` would pass a range check). A mapping's or
    list's items are left to the field's own check, which knows their rules (a verbalizer's ``0:`` key)."""
    if hint is Any:
        return True
    if _union(hint):
        return any(fits(arg, value) for arg in typing.get_args(hint))
    base = typing.get_origin(hint) or hint
    if base is type(None):
        return value is None
    return isinstance(value, bool) == (base is bool) and isinstance(value, (int, float) if base is float else base)


def kind(hint: Any) -> str:
    """A field's type in words: ``int | None`` -> "a whole number or null"."""
    if _union(hint):
        return " or ".join(kind(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "null"
    base, args = typing.get_origin(hint) or hint, typing.get_args(hint)
    if base is dict and args and args[1] is not Any:
        return f"a mapping of {kind(args[0])} to {kind(args[1])}"
    items = f" of {kind(args[0])}" if base is list and args else ""
    return KINDS.get(base, getattr(base, "__name__", str(base))) + items


def wrong_type(name: str, hint: Any, value: Any, choices: tuple[str, ...] | None) -> str:
    """What is wrong with a value of the wrong type, and what would be right."""
    expected = kind(hint) + (f" ({', '.join(choices)})" if choices else "")
    quote = isinstance(value, bool) and fits(hint, "text")  # `bf16: on` reads as true
    return f"{name} must be {expected}, not {value!r}" + ("; YAML reads yes, no, on and off as true or false, so "
                                                          "quote the word, e.g. 'on'" if quote else "")


def from_dict(cls: type, data: dict[str, Any], source: str | None = "config",
              lines: dict[str, int] | None = None, flag_prefix: str = "") -> Any:
    """Build ``cls`` from a mapping, naming any unknown key and the fields that exist, and any value of the
    wrong type. A wrong value is reported after ``source``; from a file (``lines``: the line of each key,
    ``key_lines``) as ``FILE:LINE: ...``; from the command line (``source`` None) after its flag, which is
    the field's name after ``flag_prefix`` (``lora_``: ``--lora-r``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source or 'flags'}: expected a mapping of field: value, not {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    try:
        if unknown:
            raise ConfigError(f"unknown field {unknown[0]!r}{did_you_mean(unknown[0], fields)}; "
                              f"fields are: {', '.join(sorted(fields))}", field=unknown[0])
        hints = typing.get_type_hints(cls)
        for name, value in data.items():
            if not (value is None and fields[name].default is None) and not fits(hints[name], value):
                choices = fields[name].metadata.get("choices")
                raise ConfigError(wrong_type(name, hints[name], value, choices), field=name)
        return cls(**data)
    except ConfigError as err:
        if err.field is None:
            raise  # a check across fields says which
        line = (lines or {}).get(err.field)
        where = f"{source}:{line}" if line else source or "--" + (flag_prefix + err.field).replace("_", "-")
        raise ConfigError(f"{where}: {err}", field=err.field) from None


def read_recipe(cls: type, path: str | Path) -> dict[str, Any]:
    """A YAML recipe's values for ``cls``, checked on their own first, so that a wrong one is reported at
    its file and line (``recipe.yaml:3: head_init must be one of ...``) before flags are layered over it.
    A train recipe's ``method_options`` are checked against each method's options the same way."""
    values, node = load_yaml_node(path)
    if cls is TrainConfig and isinstance(values, dict):  # the one config with nested per-method options
        refuse_loose_options(path, values, key_lines(node))
    from_dict(cls, values, str(path), key_lines(node))
    if cls is TrainConfig:
        check_recipe_options(path, values.get("method_options") or {}, node)
    return values


def refuse_loose_options(path: str | Path, values: dict[str, Any], lines: dict[str, int]) -> None:
    """A method's option written at a recipe's top level, as its flag reads (``lora_r: 4`` for ``--lora-r``)
    or as a method's mapping (``lora: {r: 4}``), is refused with where it goes: ``method_options``."""
    for key, value in values.items():
        if isinstance(key, str) and (place := loose_option(key, value)):
            where = f"{path}:{lines[key]}" if key in lines else str(path)
            flow = yaml.safe_dump({"method_options": place}, default_flow_style=True, width=1000).strip()
            raise ConfigError(f"{where}: {key}: a method's options go under method_options, by method: write "
                              f"`{flow[1:-1]}`", field=key)


def loose_option(key: str, value: Any) -> dict[str, Any] | None:
    """``key: value`` as it goes under ``method_options`` (``{"lora": {"r": 4}}``), if ``key`` names a method
    (and ``value`` is a mapping) or a method and one of its options; else None."""
    from ctxlearn.methods import METHODS  # here: methods import this module

    name = key.replace("-", "_")
    if name in METHODS and isinstance(value, dict):
        return {name: value}
    for method in sorted(METHODS.names(), key=len, reverse=True):  # adalora_* before lora_*
        option = name.removeprefix(method + "_")
        if option != name and option in {f.name for f in dataclasses.fields(METHODS.get(method).options)}:
            return {method: {option: value}}
    return None


def check_recipe_options(path: str | Path, options: dict[str, Any], node: Any) -> None:
    """Each ``method_options`` entry of a recipe (composed as ``node``) names a method and gives a mapping of
    that method's options, each of its type; a wrong one is reported at its line, as ``read_recipe`` reports
    the top level."""
    from ctxlearn.methods import options_class  # here: methods import this module

    lines = key_lines(node, "method_options")
    for name, values in options.items():
        where = f"{path}:{lines[name]}" if name in lines else str(path)
        cls = options_class(name, values, f"{where}: method_options")
        from_dict(cls, values, str(path), key_lines(node, "method_options", name))
