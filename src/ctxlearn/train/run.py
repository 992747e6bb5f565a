"""One training run, start to finish: data -> backbone -> method -> fit -> evaluate -> artifact."""
from __future__ import annotations

import json
import platform
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ctxlearn.artifact import save_weights, weights_sha256, write_atomically
from ctxlearn.config import TrainConfig, from_dict, save_yaml, to_dict
from ctxlearn.data import Fields, Splits, load_splits
from ctxlearn.errors import ConfigError
from ctxlearn.evaluate import classification_metrics, write_report
from ctxlearn.methods import METHODS, Method, trainable_parameters
from ctxlearn.models import load_encoder, resolve_model
from ctxlearn.models.classifier import EncoderClassifier
from ctxlearn.models.dropout import use_fast_dropout
from ctxlearn.models.infer import bf16_available, map_batches
from ctxlearn.train.encode import Encoded, encode
from ctxlearn.train.features import feature_key, features, fit_head
from ctxlearn.train.hf import fit_with_trainer


def say(msg: str) -> None:
    print(f"[ctxlearn] {msg}", file=sys.stderr, flush=True)


def resolve_bf16(flag: str) -> bool:
    if flag == "on" and not bf16_available():
        raise ConfigError("bf16 is on, but this machine has no fast bf16 (needs AVX512-BF16/AMX or a bf16 GPU); use --bf16 off")
    return flag == "on" or (flag == "auto" and bf16_available())


def predict_proba(model: EncoderClassifier, data: Encoded, tokenizer: Any, bf16: bool) -> np.ndarray:
    """Class probabilities (N, C) in the order of ``data``."""
    model.eval()
    logits = map_batches(lambda b: model(**b).logits, data, tokenizer, bf16=bf16, device=next(model.parameters()).device)
    return torch.softmax(torch.from_numpy(logits), -1).numpy()


def build_model(cfg: TrainConfig, method: Method, n_labels: int):
    source = resolve_model(cfg.model)
    if source.kind == "causal-lm":
        raise ConfigError(f"{cfg.model} is a causal LM; `train` adapts encoders (e.g. --model minilm)")
    torch.manual_seed(cfg.seed)
    backbone, tokenizer = load_encoder(source)
    model = EncoderClassifier(backbone, n_labels, pooling=source.pooling)
    use_fast_dropout(model)
    options = from_dict(method.options, cfg.method_options.get(method.name) or {}, f"--{method.name}-* options")
    return model, tokenizer, source, options


def probe_head(cfg: TrainConfig, model: EncoderClassifier, tokenizer: Any, splits: Splits, data: dict[str, Encoded],
               source: Any, bf16: bool) -> dict[str, Any]:
    """LP-FT (Kumar et al. 2022): fit the head on the frozen backbone's cached features before any
    gradient step, so fine-tuning starts from a good head instead of distorting the features to fit
    a random one. Runs before the method wraps the backbone, so the features are the base model's."""
    x = {s: cached_features(model, data[s], splits.hashes[s], cfg, source, tokenizer, bf16) for s in ("train", "dev")}
    y = {s: np.array([r["labels"] for r in data[s].rows]) for s in ("train", "dev")}
    grid = [float(c) for c in METHODS.get("head").options().c_grid.split(",")]
    # The probe was fitted without dropout on the features, and its (standardised, folded) weights are
    # large: dropping features would shift the logits far more than the probe ever saw. The backbone
    # keeps its own dropout.
    model.dropout.p = 0.0
    return fit_head(model, x["train"], y["train"], x["dev"], y["dev"], grid, cfg.seed)


def _probes(cfg: TrainConfig, method: Method) -> bool:
    if cfg.head_init == "probe" and method.fit != "trainer":
        say(f"head_init probe: {method.name} fits its head directly; ignored")
    return cfg.head_init == "probe" and method.fit == "trainer"


def cached_features(model: EncoderClassifier, data: Encoded, split_hash: str, cfg: TrainConfig, source: Any,
                    tokenizer: Any, bf16: bool) -> np.ndarray:
    return features(model, data, tokenizer, bf16, feature_key(source.path, source.pooling, split_hash, cfg.max_length, bf16))


def fit(cfg: TrainConfig, method: Method, model: EncoderClassifier, tokenizer: Any, splits: Splits,
        data: dict[str, Encoded], work: Path, bf16: bool, source: Any, options: Any) -> dict[str, Any]:
    if method.fit == "features":
        x = {s: cached_features(model, data[s], splits.hashes[s], cfg, source, tokenizer, bf16) for s in ("train", "dev")}
        y = {s: np.array([r["labels"] for r in data[s].rows]) for s in ("train", "dev")}
        grid = [float(c) for c in options.c_grid.split(",")]
        return fit_head(model, x["train"], y["train"], x["dev"], y["dev"], grid, cfg.seed)
    epochs = cfg.epochs or method.epochs
    callbacks = method.callbacks(model, options) if method.callbacks else []
    return fit_with_trainer(model, tokenizer, data["train"], data["dev"], cfg, work, epochs, cfg.lr or method.lr, bf16,
                            callbacks)


def run_training(cfg: TrainConfig) -> dict[str, Any]:
    """Train, evaluate on dev and test, and write the run folder ``cfg.out``; returns the summary."""
    start = time.time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    method = METHODS.get(cfg.method)
    splits = load_splits(cfg.data, Fields(cfg.text_field, cfg.label_field, cfg.text_pair_field),
                         seed=cfg.seed, dev_fraction=cfg.dev_fraction, test_fraction=cfg.test_fraction
                         ).cap_train(cfg.max_train, cfg.seed)
    say(f"data: train {len(splits.train)}, dev {len(splits.dev)}, test {len(splits.test)}; labels {splits.labels}")
    model, tokenizer, source, options = build_model(cfg, method, len(splits.labels))
    data = {s: encode(getattr(splits, s), tokenizer, splits.labels, cfg.max_length) for s in ("train", "dev", "test")}
    bf16 = resolve_bf16(cfg.bf16)
    t_probe = time.time()
    probe = probe_head(cfg, model, tokenizer, splits, data, source, bf16) if _probes(cfg, method) else None
    t_probe = time.time() - t_probe
    model = method.prepare(model, options)
    trainable, total = trainable_parameters(model)
    say(f"model {source.name} ({total:,} parameters), method {method.name}: {trainable:,} trainable")
    work = Path(cfg.out).with_name(Path(cfg.out).name + ".partial")
    if cfg.estimate_steps:
        return estimate(cfg, method, model, tokenizer, splits, data, work.with_name(work.name + "-estimate"), bf16,
                        source, options, start)
    if work.exists() and not cfg.resume:
        shutil.rmtree(work)
    t_fit = time.time()
    stats = fit(cfg, method, model, tokenizer, splits, data, work, bf16, source, options)
    stats.setdefault("train_seconds", time.time() - t_fit)
    if probe:  # the probe is part of training: its time counts
        stats.update(probe_dev_accuracy=probe["best_dev_accuracy"], train_seconds=stats["train_seconds"] + t_probe)
    metrics, probs = evaluate_splits(cfg, method, model, tokenizer, splits, data, bf16, source)
    stats["predict_ms_per_example"] = latency_ms(model, data["test"], tokenizer, bf16)
    manifest = _manifest(cfg, splits, source, method, bf16, stats, (trainable, total), start)
    out = write_atomically(Path(cfg.out), lambda tmp: _fill(tmp, cfg, model, tokenizer, splits, metrics, manifest, work, probs["test"]))
    shutil.rmtree(work, ignore_errors=True)
    say(f"test accuracy {metrics['test']['accuracy']:.4f}, macro-F1 {metrics['test']['macro_f1']:.4f}; wrote {out}")
    return summary(metrics, manifest, out)


def estimate(cfg: TrainConfig, method: Method, model: EncoderClassifier, tokenizer: Any, splits: Splits,
             data: dict[str, Encoded], work: Path, bf16: bool, source: Any, options: Any, start: float) -> dict[str, Any]:
    """``--estimate-steps``: predicted time per epoch and peak memory, measured on a few steps."""
    from ctxlearn.train import estimate as est

    if method.fit == "features":
        grid = [float(c) for c in options.c_grid.split(",")]
        result = est.estimate_features(cfg, model, tokenizer, data, splits.hashes, source, bf16, grid)
    else:
        result = est.estimate_trainer(cfg, method, model, tokenizer, data, work, bf16, options)
        shutil.rmtree(work, ignore_errors=True)
    result = est.finish(result, method.name, start)
    say(f"estimate for {method.name}: {result['epoch_seconds']:.0f} s per epoch, {result['epochs']:g} epochs, "
        f"peak memory {result['peak_rss_mb']:.0f} MB")
    return result


def evaluate_splits(cfg: TrainConfig, method: Method, model: EncoderClassifier, tokenizer: Any, splits: Splits,
                    data: dict[str, Encoded], bf16: bool, source: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metrics and class probabilities on dev and test."""
    metrics, probs = {}, {}
    for split in ("dev", "test"):
        y = np.array([r["labels"] for r in data[split].rows])
        if method.fit == "features":  # the frozen backbone's features are cached: only the head runs
            x = torch.from_numpy(cached_features(model, data[split], splits.hashes[split], cfg, source, tokenizer, bf16))
            with torch.no_grad():
                probs[split] = torch.softmax(model.head(x).float(), -1).numpy()
        else:
            probs[split] = predict_proba(model, data[split], tokenizer, bf16)
        metrics[split] = classification_metrics(y, probs[split], splits.labels)
    return metrics, probs


def latency_ms(model: EncoderClassifier, data: Encoded, tokenizer: Any, bf16: bool, n: int = 256) -> float:
    """Batched prediction time per example through the whole model, on up to ``n`` test rows."""
    sample = Encoded(data.rows[:n])
    t0 = time.perf_counter()
    predict_proba(model, sample, tokenizer, bf16)
    return 1000 * (time.perf_counter() - t0) / max(1, len(sample))


def write_predictions(path: Path, examples: list, probs: np.ndarray, labels: list[str]) -> None:
    """Per-example test predictions, for error analysis (full-precision probabilities)."""
    with path.open("w", encoding="utf-8") as fh:
        for ex, p in zip(examples, probs):
            row = {"line": ex.line, "text": ex.text, "gold": ex.label, "pred": labels[int(p.argmax())],
                   "probs": [float(v) for v in p]}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def summary(metrics: dict[str, Any], manifest: dict[str, Any], out: Path) -> dict[str, Any]:
    """The stable keys scripts read from ``--json``."""
    res = {"out": str(out), "method": manifest["method"], "model": manifest["model"]}
    for split in ("dev", "test"):
        for key in ("accuracy", "macro_f1", "micro_f1", "ece"):
            res[f"{split}_{key}"] = metrics[split][key]
    res.update({k: manifest["cost"][k] for k in ("trainable_params", "total_params", "train_seconds", "wall_seconds",
                                                  "peak_rss_mb", "predict_ms_per_example")})
    return res


def _manifest(cfg: TrainConfig, splits: Splits, source: Any, method: Method, bf16: bool, stats: dict[str, Any],
              params: tuple[int, int], start: float) -> dict[str, Any]:
    import peft
    import transformers

    train_s = float(stats["train_seconds"])
    return {
        "ctxlearn_manifest": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "data": cfg.data, "model": cfg.model, "method": method.name, "seed": cfg.seed, "bf16": bf16,
        "model_source": {"name": source.name, "path": source.path, "kind": source.kind, "pooling": source.pooling},
        "base_weights_sha256": weights_sha256(source.path),
        "labels": splits.labels, "data_sources": splits.sources, "data_sha256": splits.hashes,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "peft": peft.__version__},
        "training": {k: v for k, v in stats.items()},
        "cost": {"trainable_params": params[0], "total_params": params[1], "train_seconds": train_s,
                 "wall_seconds": time.time() - start,
                 "train_tokens_per_s": stats.get("useful_train_tokens", 0) / train_s if train_s else 0.0,
                 "steady_train_tokens_per_s": stats.get("steady_tokens_per_s"),
                 "predict_ms_per_example": stats["predict_ms_per_example"],
                 "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
    }


def _fill(folder: Path, cfg: TrainConfig, model: EncoderClassifier, tokenizer: Any, splits: Splits,
          metrics: dict[str, Any], manifest: dict[str, Any], work: Path, test_probs: np.ndarray) -> None:
    manifest["weights"] = save_weights(model, tokenizer, folder)
    write_predictions(folder / "test_predictions.jsonl", splits.test, test_probs, splits.labels)
    save_yaml(to_dict(cfg), folder / "config.yaml")
    (folder / "labels.json").write_text(json.dumps(splits.labels))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    write_report(folder, metrics, manifest, splits.labels)
    for events in work.glob("**/events.out.tfevents.*"):
        (folder / "logs").mkdir(exist_ok=True)
        shutil.copy2(events, folder / "logs" / events.name)
