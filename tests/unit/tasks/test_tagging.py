"""The tagging task's decoding: the most probable valid BIO sequence."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from ctxlearn.data.tags import orphans
from ctxlearn.tasks.tagging import constrained_decode

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_hand_checked_example():
    """Argmax reads O I-PER (invalid; repaired it would be a one-word entity); the best valid sequence
    is B-PER I-PER: 0.4 * 0.9 beats O O (0.6 * 0.05) and O B-PER (0.6 * 0.05)."""
    probs = np.array([[0.6, 0.0, 0.0, 0.4, 0.0], [0.05, 0.0, 0.0, 0.05, 0.9]]) + 1e-9
    assert [LABELS[i] for i in constrained_decode(np.log(probs), LABELS)] == ["B-PER", "I-PER"]


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_over_valid_sequences(seed):
    log_probs = np.log(np.random.default_rng(seed).dirichlet(np.ones(5), size=4))
    valid = [seq for seq in itertools.product(range(5), repeat=4) if not orphans([LABELS[i] for i in seq])]
    best = max(valid, key=lambda seq: sum(log_probs[t, i] for t, i in enumerate(seq)))
    assert constrained_decode(log_probs, LABELS) == list(best)


def test_valid_argmax_is_kept():
    probs = np.eye(5)[[1, 2, 0, 3, 4, 4]] * 0.9 + 0.02
    assert constrained_decode(np.log(probs), LABELS) == [1, 2, 0, 3, 4, 4]
