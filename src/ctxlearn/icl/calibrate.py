"""Contextual calibration (Zhao et al. 2021, "Calibrate Before Use").

A prompt biases a small LM towards some labels whatever the input (the label of the last
demonstration, a frequent word). Content-free inputs ("N/A", "", "[MASK]") put in the same prompt
expose that bias: ``p_cf``, the mean of their normalised label probabilities. Dividing it out
(W = diag(p_cf)^-1, b = 0 in the paper) makes a content-free input score every label alike.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ctxlearn.data import Example

CONTENT_FREE = ("N/A", "", "[MASK]")


def content_free(like: Example, text: str) -> Example:
    """``like`` with its text (and second text, for pairs) replaced by ``text``."""
    return replace(like, text=text, text_pair=None if like.text_pair is None else text)


def label_probs(loglik: np.ndarray) -> np.ndarray:
    """Log-likelihoods (..., C) -> probabilities normalised over the labels."""
    z = loglik - loglik.max(-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(-1, keepdims=True)


def label_bias(content_free_loglik: np.ndarray) -> np.ndarray:
    """p_cf (C,): the mean normalised label probabilities of the content-free inputs (n_cf, C)."""
    return label_probs(content_free_loglik).mean(0)


def calibrate(probs: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Probabilities proportional to p / p_cf, renormalised over the labels."""
    q = probs / bias
    return q / q.sum(-1, keepdims=True)
