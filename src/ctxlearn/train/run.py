"""One training run, start to finish: data -> backbone -> method -> fit -> evaluate -> artifact."""
from __future__ import annotations

import dataclasses
import json
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ctxlearn.artifact import RUN, check_out, save_weights, versions, weights_sha256, write_atomically
from ctxlearn.config import TrainConfig, default_out, from_dict, other_run_note, reading, save_yaml, to_dict
from ctxlearn.data import Splits
from ctxlearn.data.inspect import cut_short, imbalanced, unknown_tokens
from ctxlearn.data.splits import require_split, split_sizes
from ctxlearn.errors import ConfigError
from ctxlearn.lock import holds_out
from ctxlearn.evaluate.decision import tuned_threshold
from ctxlearn.evaluate.metrics import below_majority, only_class
from ctxlearn.methods import METHODS, Method, options_class, trainable_parameters
from ctxlearn.methods.head import c_values
from ctxlearn.models import load_encoder, resolve_model
from ctxlearn.models.classifier import EncoderClassifier
from ctxlearn.models.attention import use_cpu_attention
from ctxlearn.models.dropout import use_fast_dropout
from ctxlearn.models.embedding import keep_embedding_grad
from ctxlearn.models.infer import bf16_available, map_rows, progress
from ctxlearn.models.registry import SCRATCH_TYPE
from ctxlearn.tasks import TASKS, Task, task_for
from ctxlearn.threads import on_own_threads
from ctxlearn.train import dist
from ctxlearn.train.dist import say, warn
from ctxlearn.train.encode import Encoded
from ctxlearn.train.features import feature_key, fit_head, head_fit_keys
from ctxlearn.train.hf import fit_with_trainer
from ctxlearn.train.loss import class_weights, prior_logits
from ctxlearn.train.resume import checkpoints, identity, last_checkpoint, open_work, refuse_to_discard, work_folder


def resolve_bf16(flag: str) -> bool:
    if flag == "on" and not bf16_available():
        raise ConfigError("bf16 is on, but this machine has no fast bf16 (needs AVX512-BF16/AMX or a bf16 GPU); use --bf16 off")
    return flag == "on" or (flag == "auto" and bf16_available())


def build_model(cfg: TrainConfig, method: Method, task: Task, n_labels: int):
    source = resolve_model(cfg.model)
    if source.kind == "causal-lm":
        raise ConfigError(f"{cfg.model} is a causal LM; `train` adapts encoders (e.g. --model minilm)")
    if source.kind == "seq2seq":  # its encoder alone is not the model named, and was trained to feed cross-attention
        raise ConfigError(f"{cfg.model} is an encoder-decoder; `train` adapts encoders and will not quietly keep only "
                          "its encoder: use an encoder (e.g. --model minilm, or `ctxlearn pretrain --objective mlm`)")
    torch.manual_seed(cfg.seed)
    backbone, tokenizer = load_encoder(source)
    taken = method.positions(method_options(cfg, method.name)) if method.positions else 0
    check_position_table(backbone.config, tokenizer, cfg.max_length, cfg.model, (method.name, taken))
    if backbone.config.model_type == SCRATCH_TYPE:
        from ctxlearn.scratch.pretrain import warn_if_weak

        warn_if_weak(cfg.model, source.path)
    model = task.make_model(backbone, n_labels, source.pooling)
    # CPU training fast paths, each exact or the same distribution (models/dropout.py, attention.py, embedding.py).
    # Not used: torch.compile of the whole classifier ran 8% more steady tokens/s in a bare loop but took 71 s to
    # compile, more than it saves in a 3-epoch SST-2 run; compiling each BERT layer alone gained nothing.
    # Nor glibc's mallopt (no heap trimming, 32 MB mmap threshold): 780 page faults a step against 1,100, and
    # the same speed in a bare bf16 loop (3,228 against 3,225 useful tokens/s, three runs each alternating).
    use_fast_dropout(model)
    use_cpu_attention(backbone)
    keep_embedding_grad(backbone)
    return model, tokenizer, source, method_options(cfg, method.name)


def method_options(cfg: TrainConfig, name: str) -> Any:
    """Method ``name``'s options: its ``--NAME-*`` flags (``cfg.method_options[name]``) over its defaults. A
    recipe's options were checked at their lines when it was read, so a wrong one now is a flag's."""
    return from_dict(METHODS.get(name).options, cfg.method_options.get(name) or {}, None, flag_prefix=f"{name}_")


def check_method_options(cfg: TrainConfig, method: Method) -> None:
    """Refuse options of no method, or no field of their method; warn of those this run ignores. Options
    of a method other than --method are not refused: ``compare`` gives the flags after ``--`` to every
    cell, whatever its method, and a saved config.yaml reused with another --method keeps its old one's."""
    used = {method.name} | ({"head"} if cfg.head_init == "probe" and method.fit == "trainer" else set())
    for name, values in cfg.method_options.items():
        options_class(name, values or {}, "method_options")
        method_options(cfg, name)
        if values and name not in used:
            flags = ", ".join("--" + f"{name}_{key}".replace("_", "-") for key in values)
            warn(f"{flags}: option of --method {name}, ignored: this run's method is {method.name}")


# settings of gradient training, which a features-fit method has none of
GRADIENT_FIELDS = ("epochs", "lr", "batch_size", "weight_decay", "warmup_ratio", "label_smoothing", "patience",
                   "evals_per_epoch", "head_init")


def check_gradient_fields(cfg: TrainConfig, method: Method) -> None:
    """Warn of gradient-training settings given to a method that fits its head directly (``head``), which
    a user would otherwise believe were used."""
    flags = given_flags(cfg, GRADIENT_FIELDS)
    if method.fit == "features" and flags:
        warn(f"{flags}: {method.name} fits a logistic regression on cached features (its C picked on dev), with no "
             "gradient steps; ignored")


def given_flags(cfg: TrainConfig, names: tuple[str, ...]) -> str:
    """The flags of the fields in ``names`` that ``cfg`` sets away from their defaults, comma-separated."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    return ", ".join("--" + name.replace("_", "-") for name in names if getattr(cfg, name) != defaults[name])


# settings of one task's data that the other task's runs never read, and what those runs read instead
UNREAD_BY_TASK = {
    "tagging": (("text_pair_field", "long_inputs"), "a tagging run tags the words of one text (a JSON record's "
                "field named by --text-field, or tokens or text; CoNLL's first column) and reads long sentences in "
                "windows"),
    "classification": (("tag_column", "tag_scheme", "repair_tags"), "classification data has no tags"),
}


def check_task_fields(cfg: TrainConfig, task: str) -> None:
    """Warn of settings of the other task's data (``UNREAD_BY_TASK``), which a user would otherwise believe
    were used: --label-field ner on tagging data whose tags are under ner."""
    fields, reads = UNREAD_BY_TASK[task]
    flags = given_flags(cfg, fields)
    if flags:
        warn(f"{flags}: ignored for {task} data; {reads}")


def check_position_table(config: Any, tokenizer: Any, max_length: int, name: str,
                         taken: tuple[str, int] = ("", 0)) -> None:
    """A backbone has no positions past its table (a scratch one's learned positions, a Hugging Face model's
    ``max_position_embeddings``): refuse inputs that could reach them now, rather than fail at the first long
    input (minilm at --max-length 1000 was a traceback from its embeddings once a text ran past 512 tokens).
    ``taken``: a method and the positions it takes ahead of each input of a Hugging Face backbone (prefix
    tuning at --max-length 500 with 20 virtual tokens failed at the first long text, in training or predict)."""
    method, ahead = taken
    if config.model_type == SCRATCH_TYPE:  # virtual tokens sit at position 0 there
        limit, ahead = (config.max_len if config.positions == "learned" else None), 0
    elif hasattr(config, "max_position_embeddings"):
        # as the tokenizer counts: RoBERTa's table has 514 rows, its positions starting after the padding index
        limit = min(config.max_position_embeddings, tokenizer.model_max_length)
    else:
        limit = None
    if limit is not None and max_length + ahead > limit:
        plus = f" and the {ahead} virtual tokens of {method} ahead of it" if ahead else ""
        fewer = f", or fewer --{method}-virtual-tokens" if ahead else ""
        raise ConfigError(f"--max-length {max_length}{plus} {'are' if ahead else 'is'} longer than the position table "
                          f"of {name} ({limit} positions); use --max-length {max(limit - ahead, 1)} or less{fewer}, "
                          "and --long-inputs windows to read longer texts whole")


def probe_head(cfg: TrainConfig, task: Task, model: EncoderClassifier, tokenizer: Any, splits: Splits,
               data: dict[str, Encoded], source: Any, bf16: bool) -> dict[str, Any]:
    """LP-FT (Kumar et al. 2022): fit the head on the frozen backbone's cached features before any
    gradient step, so fine-tuning starts from a good head instead of distorting the features to fit
    a random one. Runs before the method wraps the backbone, so the features are the base model's."""
    grid = c_values(method_options(cfg, "head"))  # the user's --head-c-grid, as `head` would use it
    # The probe was fitted without dropout on the features, and its (standardised, folded) weights are
    # large: dropping features would shift the logits far more than the probe ever saw. The backbone
    # keeps its own dropout.
    model.dropout.p = 0.0
    return fit_features_head(cfg, task, model, tokenizer, splits, data, source, bf16, grid)


def start_head(cfg: TrainConfig, task: Task, model: EncoderClassifier, train: Encoded, n_labels: int) -> None:
    """--head-init prior (and auto, on imbalanced data): the head's bias at the training loss's best constant
    prediction (Karpathy 2019, "init well"; Lin et al. 2017 start a detector's rare class at its prior).
    From zero bias, an Adam step moves the bias by about lr at most, too little to reach a skewed prior
    within a run (sms-spam's 13% needs a logit gap of 1.9; lora at 2e-3 has 363 steps), so the rest of the
    model must learn it: lora on sms-spam stalled at predicting only the common class in 3 of 4 unweighted
    runs from zero bias, and learned in all 4 from the prior (README, "class weights"). On near-even
    classes the prior is near zero bias and auto keeps transformers' start (SST-2 lora, five seeds: the
    prior start averaged 87.8% test against 88.3%, a difference within the seeds' noise)."""
    targets = task.targets(train)
    if cfg.head_init == "auto" and not imbalanced(np.bincount(targets, minlength=n_labels).tolist()):
        return
    bias = prior_logits(targets, n_labels, class_weights(cfg.class_weights, targets, n_labels), cfg.label_smoothing)
    with torch.no_grad():
        model.head.bias.copy_(bias)
    say("head: bias starts at the training prior (" + ", ".join(f"{p:.0%}" for p in bias.softmax(-1).tolist()[:8])
        + (", ..." if n_labels > 8 else "") + ")")


def _probes(cfg: TrainConfig, method: Method) -> bool:  # a features-fit method is warned of it with the others
    return cfg.head_init == "probe" and method.fit == "trainer"


def cached_features(task: Task, model: EncoderClassifier, data: Encoded, split: str, splits: Splits, cfg: TrainConfig,
                    source: Any, tokenizer: Any, bf16: bool) -> np.ndarray:
    key = feature_key(source, splits.hashes[split], cfg.max_length, bf16, reading(cfg.long_inputs, split))
    return task.features(model, data, tokenizer, bf16, key)


def fit_features_head(cfg: TrainConfig, task: Task, model: EncoderClassifier, tokenizer: Any, splits: Splits,
                      data: dict[str, Encoded], source: Any, bf16: bool, grid: list[float]) -> dict[str, Any]:
    """A linear head fitted on the frozen backbone's cached features of each output row, C picked by
    the task's dev metric."""
    # a comparison's estimate tells the two apart
    keys, cached = head_fit_keys(source, splits.hashes, cfg.max_length, bf16, cfg.long_inputs)
    x = {}
    for s, k in keys.items():
        with progress(f"{s} features"):
            x[s] = task.features(model, data[s], tokenizer, bf16, k)
    y = {s: task.targets(data[s]) for s in ("train", "dev")}
    score = (task.metric, lambda pred: task.score(pred, data["dev"], splits.labels))
    weight = None if cfg.class_weights == "none" else cfg.class_weights  # the rule train.loss uses, by its sklearn name
    fitted = fit_head(model, x["train"], y["train"], x["dev"], y["dev"], grid, cfg.seed, score, weight)
    return {**fitted, "features_cached": cached}


def fit(cfg: TrainConfig, method: Method, task: Task, model: EncoderClassifier, tokenizer: Any, splits: Splits,
        data: dict[str, Encoded], work: Path, bf16: bool, source: Any, options: Any) -> dict[str, Any]:
    if method.fit == "features":
        return fit_features_head(cfg, task, model, tokenizer, splits, data, source, bf16, c_values(options))
    epochs = cfg.epochs or method.epochs
    callbacks = method.callbacks(model, options) if method.callbacks else []
    return fit_with_trainer(model, tokenizer, data["train"], data["dev"], cfg, work, epochs, cfg.lr or method.lr, bf16,
                            callbacks, task=task, labels=splits.labels,
                            lr_scale=method.lr_scale(model, options) if method.lr_scale else None)


@on_own_threads
@holds_out
def run_training(cfg: TrainConfig) -> dict[str, Any] | None:
    """Train, evaluate on dev and test, and write the run folder ``cfg.out``; returns the summary. In a
    launched run (``train.dist``) every process trains; the others return None after training. The
    warnings given on the way are kept in the manifest, and report.md lists them."""
    with dist.recorded_warnings() as notes:
        return _run_training(cfg, notes)


def _run_training(cfg: TrainConfig, notes: list[str]) -> dict[str, Any] | None:
    start = time.time()
    check_out(cfg.out, reads=cfg.data, writes=RUN)  # a builtin:NAME is no path: check_out passes it over
    if note := other_run_note(cfg.out, default_out(cfg.data, cfg.method)):
        say(note)
    work = work_folder(cfg)  # a measurement (--estimate-steps) leaves an interrupted run's folder as it is
    saved = last_checkpoint(work) or next(reversed(checkpoints(work)), None)  # even one cut off mid-save is kept
    refuse_to_discard(work, cfg.resume or bool(cfg.estimate_steps), saved)
    if cfg.resume and saved is None and not cfg.estimate_steps:  # compare's cells always pass --resume
        say(f"--resume: {work} holds no checkpoint to go on from, so this run starts from the beginning")
    method = METHODS.get(cfg.method)
    check_launch(cfg, method)
    dist.join()
    check_method_options(cfg, method)
    check_gradient_fields(cfg, method)
    task = task_for(cfg.task, cfg.data, cfg.text_field, cfg.label_field)
    check_task_fields(cfg, task.name)
    splits = task.load(cfg).cap_train(cfg.max_train, cfg.seed)
    require_split(splits, "dev", "training keeps the checkpoint (or fits the head's C) that scores best on dev")
    require_split(splits, "test", "a run reports its scores on test")
    say(f"data ({task.name}): {task.describe(splits)}")
    for msg in task.warnings(splits):
        warn(msg)
    model, tokenizer, source, options = build_model(cfg, method, task, len(splits.labels))
    if not cfg.estimate_steps and dist.is_main():
        open_work(cfg, work, identity(cfg, splits.hashes, source.path))
    dist.wait_for_everyone()  # the work folder is ready (emptied, or checked for --resume) before any process trains
    data = {s: task.encode(getattr(splits, s), tokenizer, splits.labels, cfg.max_length, reading(cfg.long_inputs, s))
            for s in ("train", "dev", "test")}
    warn_of_encoding(cfg, task, data["train"], tokenizer)
    bf16 = resolve_bf16(cfg.bf16)
    if cfg.head_init in ("auto", "prior") and method.fit == "trainer":
        start_head(cfg, task, model, data["train"], len(splits.labels))
    t_probe = time.time()
    probe = probe_head(cfg, task, model, tokenizer, splits, data, source, bf16) if _probes(cfg, method) else None
    t_probe = time.time() - t_probe
    model = method.prepare(model, options)
    trainable, total = trainable_parameters(model)
    say(f"model {source.name} ({total:,} parameters), method {method.name}: {trainable:,} trainable")
    if cfg.estimate_steps:
        if task.name != "classification":
            raise ConfigError(f"--estimate-steps measures classification runs; this is a {task.name} run")
        return estimate(cfg, method, model, tokenizer, splits, data, work.with_name(work.name + "-estimate"), bf16,
                        source, options, start)
    t_fit = time.time()
    stats = fit(cfg, method, task, model, tokenizer, splits, data, work, bf16, source, options)
    if not dist.is_main():  # every process holds the same trained model: the main one evaluates and writes
        return None
    stats.setdefault("train_seconds", time.time() - t_fit)
    if probe:  # the probe is part of training: its time counts
        stats.update({f"probe_dev_{task.metric}": probe[f"best_dev_{task.metric}"], "probe_head_C": probe["head_C"],
                      "train_seconds": stats["train_seconds"] + t_probe})
    metrics, preds = evaluate_splits(cfg, method, task, model, tokenizer, splits, data, bf16, source)
    lr = (cfg.lr or method.lr) if method.fit == "trainer" else None  # the head's fit has no learning rate
    if task.name == "classification":
        if not warn_if_one_class(preds["dev"], task.targets(data["dev"]), splits.labels, lr):
            warn_below_majority(metrics["test"], cfg.class_weights)
        tuned = tuned_threshold(task.targets(data["dev"]), preds["dev"], task.targets(data["test"]), preds["test"],
                                splits.labels)
        if tuned:
            metrics["test"]["tuned_threshold"] = tuned
    else:
        warn_if_few_entities(metrics["dev"], lr)
    stats["predict_ms_per_example"] = latency_ms(model, data["test"], tokenizer, bf16)
    manifest = _manifest(cfg, task, splits, source, method, bf16, stats, (trainable, total), start)
    manifest["warnings"] = list(notes)
    replacing = (Path(cfg.out) / "manifest.json").is_file()
    out = write_atomically(Path(cfg.out), lambda tmp: _fill(tmp, cfg, task, model, tokenizer, splits, metrics, manifest,
                                                            work, preds["test"]), writes=RUN)
    shutil.rmtree(work, ignore_errors=True)
    say(f"{task.headline(metrics['test'])}; wrote {out}" + (", replacing the run that was there" if replacing else ""))
    return summary(metrics, manifest, out)


def warn_of_encoding(cfg: TrainConfig, task: Task, train: Encoded, tokenizer: Any) -> None:
    """Warn of training text the model cannot read: [UNK] tokens past one percent, and (classification
    cutting long texts, the default) many texts cut at max_length."""
    ids = [row["input_ids"] for row in train.rows]
    cuts = task.name == "classification" and cfg.long_inputs == "truncate"  # tagging reads long sentences in windows
    cut = cut_short("train", [len(x) for x in ids], cfg.max_length) if cuts else None
    for msg in (unknown_tokens("train", ids, tokenizer), cut):
        if msg is not None:
            warn(msg)


def warn_if_one_class(probs: np.ndarray, gold: np.ndarray, labels: list[str], lr: float | None) -> bool:
    """Say so when the model predicts one class for every dev text though dev holds several: it learned the
    class prior only, as a diverged or stalled run does (LoRA on SMS spam from zero bias: 4 runs of 5). True if
    it does."""
    one = only_class(probs, gold)
    if one is None:
        return False
    fix = f", or a lower --lr than {lr:g}" if lr else ""
    warn(f"the trained model predicts {labels[one]!r} for every dev text, so it learned only how "
        f"common each class is: training diverged or stalled; try --head-init probe or prior, another --seed{fix}")
    return True


FEW_ENTITIES = 0.1  # a tagger that marks under this share of dev's gold entities has learned mostly to answer O


def warn_if_few_entities(dev: dict[str, Any], lr: float | None) -> bool:
    """Say so when the trained tagger marks few entities where dev holds many (WNUT17, 500 sentences, one
    epoch: 15 marked of 836, entity F1 0.01); True if it does."""
    if not dev.get("entities") or dev.get("predicted_entities", dev["entities"]) >= FEW_ENTITIES * dev["entities"]:
        return False
    fix = f", or another --lr than {lr:g}" if lr else ""
    warn(f"the trained model marks {dev['predicted_entities']} entities in dev, which holds {dev['entities']}: it "
         f"learned mostly to tag every word O; train longer (more --epochs, or more data than --max-train){fix}")
    return True


def warn_below_majority(test: dict[str, Any], class_weights: str) -> None:
    """Say so when test accuracy is below always answering the most common class: the model learned less
    than the class prior (class weights may trade accuracy for rare classes' recall: macro-F1 says if so)."""
    below = below_majority(test)
    if below:
        weighed = class_weights != "none"
        why = ("--class-weights trades accuracy for the rare classes' recall: compare macro-F1" if weighed else
               "training diverged or stalled; try another --seed or --lr, or --method head")
        warn(f"test: {below}: {why}")


def check_launch(cfg: TrainConfig, method: Method) -> None:
    """A launched run trains with the Trainer; measuring and the frozen-feature head are one process's work."""
    if not dist.launched():
        return
    if cfg.estimate_steps:
        raise ConfigError("--estimate-steps measures one process: run it without torchrun / accelerate launch")
    if method.fit != "trainer":
        raise ConfigError(f"--method {method.name} fits its head on cached features in one process: run it without "
                          "torchrun / accelerate launch")


def estimate(cfg: TrainConfig, method: Method, model: EncoderClassifier, tokenizer: Any, splits: Splits,
             data: dict[str, Encoded], work: Path, bf16: bool, source: Any, options: Any, start: float) -> dict[str, Any]:
    """``--estimate-steps``: predicted time per epoch and peak memory, measured on a few steps."""
    from ctxlearn.train import estimate as est

    if method.fit == "features":
        result = est.estimate_features(cfg, model, tokenizer, data, splits.hashes, source, bf16, c_values(options))
    else:
        result = est.estimate_trainer(cfg, method, model, tokenizer, data, work, bf16, options)
        shutil.rmtree(work, ignore_errors=True)
    result = est.finish(result, method.name, start)
    say(f"estimate for {method.name}: {result['epoch_seconds']:.0f} s per epoch, {result['epochs']:g} epochs, "
        f"peak memory {result['peak_rss_mb']:.0f} MB{_growth(result)}")
    return result


def _growth(result: dict[str, Any]) -> str:
    """Where the predicted peak is above the measured one: by how much, and why."""
    if result["peak_rss_mb"] <= result["measured_peak_rss_mb"]:
        return ""
    return (f" ({result['measured_peak_rss_mb']:.0f} MB measured over {result['steps_measured']} steps, plus the "
            f"heap's growth over the run's {result['steps_planned']} steps)")


def evaluate_splits(cfg: TrainConfig, method: Method, task: Task, model: EncoderClassifier, tokenizer: Any,
                    splits: Splits, data: dict[str, Encoded], bf16: bool, source: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and predictions (the task's: class probabilities, or tags) on dev and test."""
    metrics, preds = {}, {}
    for split in ("dev", "test"):
        if method.fit == "features":  # the frozen backbone's features are cached: only the head runs
            with progress(f"{split} features"):
                x = torch.from_numpy(cached_features(task, model, data[split], split, splits, cfg, source, tokenizer, bf16))
            with torch.no_grad():
                logits = model.head(x).float().numpy()
        else:
            with progress(f"{split} predictions"):
                logits = task.logits(model, data[split], tokenizer, bf16)
        preds[split] = task.predictions(logits, data[split], splits.labels)
        metrics[split] = task.metrics(preds[split], data[split], splits.labels)
    return metrics, preds


def latency_ms(model: EncoderClassifier, data: Encoded, tokenizer: Any, bf16: bool, n: int = 256,
               passes: int = 2) -> float:
    """Batched prediction time per row (a window, for tagging and for classification in windows)
    through the whole model, on up to ``n`` test rows: the faster of ``passes`` passes, since a model's
    first pass pays one-time set-up (a head run's first through its whole model: 7.3 ms per example against
    2.8 after it, on 8 texts, which made compare call lora faster to predict than head)."""
    sample = Encoded(data.rows[:n])
    model.eval()
    device = next(model.parameters()).device
    times = []
    for _ in range(passes):
        t0 = time.perf_counter()
        for _ in map_rows(lambda b: model(**b).logits, sample, tokenizer, bf16=bf16, device=device):
            pass
        times.append(time.perf_counter() - t0)
    return 1000 * min(times) / max(1, len(sample))


def summary(metrics: dict[str, Any], manifest: dict[str, Any], out: Path) -> dict[str, Any]:
    """The stable keys scripts read from ``--json``: the task's metrics on dev and test, the cost, and the
    warnings the run gave (``warnings``, a list: a script can hold back a score that came with some)."""
    res = {"out": str(out), "method": manifest["method"], "model": manifest["model"],
           "task": manifest.get("task", "classification")}
    for split in ("dev", "test"):
        for key in TASKS.get(res["task"]).summary_keys:
            res[f"{split}_{key}"] = metrics[split][key]
    res.update({k: manifest["cost"][k] for k in ("trainable_params", "total_params", "train_seconds", "wall_seconds",
                                                  "peak_rss_mb", "predict_ms_per_example")})
    res["warnings"] = manifest.get("warnings", [])  # a run written before they were kept: none known
    return res


def _manifest(cfg: TrainConfig, task: Task, splits: Splits, source: Any, method: Method, bf16: bool,
              stats: dict[str, Any], params: tuple[int, int], start: float) -> dict[str, Any]:
    train_s = float(stats["train_seconds"])
    return {
        "ctxlearn_manifest": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "task": task.name, "data": cfg.data, "model": cfg.model, "method": method.name, "seed": cfg.seed, "bf16": bf16,
        "processes": dist.world_size(),  # --batch-size is per process: config.yaml alone reran it at half the batch
        "model_source": {"name": source.name, "path": source.path, "kind": source.kind, "pooling": source.pooling},
        "base_weights_sha256": weights_sha256(source.path),
        "labels": splits.labels, "data_sources": splits.sources, "data_sha256": splits.hashes,
        "data_sizes": split_sizes(splits), "split_copies": getattr(splits, "copies", "exact"),  # what cut copies
        "text_pairs": bool(getattr(splits, "is_pair", False)),  # what predict and serve must be given
        "versions": versions(),
        "training": {k: v for k, v in stats.items()},
        "cost": {"trainable_params": params[0], "total_params": params[1], "train_seconds": train_s,
                 "wall_seconds": time.time() - start + float(stats.get("earlier_seconds") or 0.0),  # resumed: all
                 "train_tokens_per_s": stats.get("useful_train_tokens", 0) / train_s if train_s else 0.0,
                 "steady_train_tokens_per_s": stats.get("steady_tokens_per_s"),
                 "predict_ms_per_example": stats["predict_ms_per_example"],
                 "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
    }


def _fill(folder: Path, cfg: TrainConfig, task: Task, model: EncoderClassifier, tokenizer: Any, splits: Splits,
          metrics: dict[str, Any], manifest: dict[str, Any], work: Path, test_predictions: Any) -> None:
    manifest["weights"] = save_weights(model, tokenizer, folder)
    save_yaml(to_dict(cfg), folder / "config.yaml")
    (folder / "labels.json").write_text(json.dumps(splits.labels))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    task.write(folder, splits, test_predictions, metrics, manifest)
    for events in work.glob("**/events.out.tfevents.*"):
        (folder / "logs").mkdir(exist_ok=True)
        shutil.copy2(events, folder / "logs" / events.name)
