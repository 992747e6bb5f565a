"""The frozen-backbone path: pooled features are computed once (and cached on disk), then a
logistic-regression head is fitted on them with scikit-learn and copied into the torch head."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ctxlearn.cache import cached_array, kind_dir
from ctxlearn.config import reading
from ctxlearn.models.classifier import EncoderClassifier
from ctxlearn.models.infer import map_batches
from ctxlearn.train.encode import Encoded, per_text


def features(model: EncoderClassifier, data: Encoded, tokenizer: Any, bf16: bool, key: str | None = None) -> np.ndarray:
    """Pooled backbone features (T, H) of each text, read from the cache when ``key`` names a stored copy.
    A text read in windows gets their token-weighted mean: with mean pooling, the mean over all its tokens."""
    def compute() -> np.ndarray:
        model.eval()
        device = next(model.parameters()).device
        rows = map_batches(lambda b: model.features(**b), data, tokenizer, bf16=bf16, device=device)
        return per_text(data, rows)

    return cached_array(key, compute, kind_dir("features"))


def cache_path(key: str) -> Path:
    return kind_dir("features") / f"{key}.npy"


def head_fit_keys(source: Any, hashes: dict[str, str], max_length: int, bf16: bool,
                  long_inputs: str = "truncate") -> tuple[dict[str, str], bool]:
    """The cache keys of the train and dev features a head fit reads, and whether both are stored."""
    keys = {s: feature_key(source, hashes[s], max_length, bf16, reading(long_inputs, s)) for s in ("train", "dev")}
    return keys, all(cache_path(k).is_file() for k in keys.values())


def feature_key(source: Any, split_hash: str, max_length: int, bf16: bool, read: str = "truncate") -> str:
    """Cache key of one split's features from the model ``source`` (a ``ModelSource``). It holds the
    weights' sha256, not only their folder: a folder replaced in place (pretrained again into the same
    --out) must not serve the old model's features."""
    from ctxlearn.artifact import weights_sha256  # not at the top: artifact imports the tasks, which import this

    parts = (source.path, weights_sha256(source.path), source.pooling, split_hash, max_length, bf16)
    parts += () if read == "truncate" else (read,)  # truncated features keep the keys they had
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def fit_head(model: EncoderClassifier, x_train: np.ndarray, y_train: np.ndarray, x_dev: np.ndarray,
             y_dev: np.ndarray, c_grid: list[float], seed: int,
             score: tuple[str, Callable[[np.ndarray], float]] | None = None,
             class_weight: str | None = None) -> dict[str, Any]:
    """Pick C on dev, then write the standardised logistic regression into ``model.head``. ``score``
    names a metric and computes it from the dev predictions (class ids); dev accuracy by default.
    ``class_weight`` is scikit-learn's (``"balanced"``, or None: every row weighs the same).

    The C values are fitted from the strongest penalty up, each starting from the last one's weights
    (a regularisation path), and the path stops once ``PATIENCE`` of them in a row score below the best:
    weaker penalties take the most iterations, and on tagging data they are the ones that lose. MIT Movie
    (2,000 sentences, 41k tokens, 25 tags): 92 s for the five fits from scratch, 26 s as a path that
    stops after C = 1, with the same pick (C = 0.01)."""
    name, score_fn = score or ("accuracy", lambda pred: float((pred == y_dev).mean()))
    scaler = StandardScaler().fit(x_train)
    scaler.scale_[flat_columns(scaler.scale_)] = np.inf  # they standardise to 0 and fold to weight 0
    xs, xd = scaler.transform(x_train), scaler.transform(x_dev)
    path = LogisticRegression(max_iter=2000, random_state=seed, class_weight=class_weight, warm_start=True)
    best: tuple[float, float, np.ndarray, np.ndarray] | None = None
    worse = 0
    for c in sorted(c_grid):
        path.set_params(C=c).fit(xs, y_train)
        value = score_fn(path.predict(xd))
        if best is None or value > best[0]:
            best, worse = (value, c, path.coef_.copy(), path.intercept_.copy()), 0
        else:
            worse += 1
        if worse == PATIENCE:
            break
    value, c, path.coef_, path.intercept_ = best
    _copy_into(model.head, path, scaler, n_classes=model.head.out_features)
    return {f"best_dev_{name}": value, "head_C": c}


PATIENCE = 2  # C values in a row scoring below the best that end the path


def flat_columns(scale: np.ndarray, rel: float = 1e-6) -> np.ndarray:
    """Columns whose spread on train is float rounding, not signal: under ``rel`` of the median column's.
    MiniLM's last LayerNorm has gains of about 1e-33 on a few dimensions, so their pooled features vary
    by 1e-9. Standardising blows that rounding up to unit spread, and folding 1 / scale into the head gave
    weights so large that, fine-tuning from the probe (``--head-init probe``), the gradient of that
    LayerNorm overflowed the gradient norm to inf every step, and clipping then zeroed every update."""
    return scale < rel * np.median(scale)


def _copy_into(head: torch.nn.Linear, clf: LogisticRegression, scaler: StandardScaler, n_classes: int) -> None:
    """Fold the scaler into the weights: w' = w / s, b' = b - w' . mu. Binary sklearn models hold one
    row (logit of class 1); as two logits that is [0, z], which gives the same softmax. A class absent
    from the training rows (a tag such as I-X of a type only ever one word long) gets a logit far below."""
    w = clf.coef_ / scaler.scale_
    b = clf.intercept_ - w @ scaler.mean_
    if w.shape[0] == 1:
        w, b = np.vstack([np.zeros_like(w), w]), np.concatenate([[0.0], b])
    if len(clf.classes_) < n_classes:
        full_w, full_b = np.zeros((n_classes, w.shape[1])), np.full(n_classes, b.min() - 100.0)
        full_w[clf.classes_], full_b[clf.classes_] = w, b
        w, b = full_w, full_b
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(w, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(b, dtype=head.bias.dtype))
