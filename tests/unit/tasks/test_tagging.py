"""The tagging task's decoding: the most probable valid BIO sequence, and words the tokenizer drops."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from ctxlearn.data.example import TaggedSentence
from ctxlearn.data.tags import orphans
from ctxlearn.tasks.tagging import Tagging, constrained_decode, decode, through_unseen
from ctxlearn.train.windows import encode_tags

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


@pytest.mark.parametrize("seen, seen_tags, tags, source", [
    ([1, 0, 1, 1], ["B-PER", "I-PER", "O"], ["B-PER", "I-PER", "I-PER", "O"], [0, 2, 2, 3]),  # inside: joins
    ([1, 0, 1], ["B-PER", "B-PER"], ["B-PER", "O", "B-PER"], [0, -1, 2]),  # between two entities: O
    ([0, 1, 1], ["B-PER", "I-PER"], ["O", "B-PER", "I-PER"], [-1, 1, 2]),  # before the first word
    ([1, 1, 0], ["B-PER", "I-PER"], ["B-PER", "I-PER", "O"], [0, 1, -1]),  # after the last word
    ([1, 0, 0, 1], ["B-LOC", "I-LOC"], ["B-LOC", "I-LOC", "I-LOC", "I-LOC"], [0, 3, 3, 3]),
])
def test_a_word_without_a_sub_word_is_inside_an_entity_that_goes_on_past_it(seen, seen_tags, tags, source):
    assert through_unseen(seen_tags, np.array(seen, dtype=bool)) == (tags, source)


def test_a_dropped_word_inside_an_entity_no_longer_splits_it(tiny_bert: Path):
    """'tom \u200b hanks': the zero-width space has no sub-word, so the model reads 'tom hanks' and tags
    hanks I-PER; the space was made O, which left hanks an orphan (predict gave 'hanks' O)."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    words = ("good", "\u200b", "movie", "film")  # the tiny vocabulary's stand-ins for tom, hanks, movie
    data = encode_tags([TaggedSentence(words, ("O",) * 4, (1, 2, 3, 4))], tokenizer, LABELS, 32)
    assert list(data.owner_row >= 0) == [True, False, True, True]
    probs = np.full((4, 5), 0.01)
    probs[[0, 2, 3], [3, 4, 0]] = 0.96  # good B-PER, movie I-PER, film O
    logits = np.log(probs)
    logits[1] = 0.0  # as word_outputs gives a word without a sub-word
    predicted = Tagging().predictions(logits, data, LABELS)
    assert predicted.tags == [["B-PER", "I-PER", "I-PER", "O"]]
    assert np.allclose(predicted.scores[0], 0.96)  # the dropped word scores as movie, whose tag it takes
    assert decode(logits.argmax(1), data, LABELS) == [["B-PER", "I-PER", "I-PER", "O"]]
