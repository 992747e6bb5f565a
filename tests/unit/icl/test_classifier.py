"""IclClassifier on the tiny Llama: context limits drop demonstrations (never the query), calibration
uses the content-free prompts of each query's own demonstrations, shared and stored demonstrations agree."""
from __future__ import annotations

import numpy as np
import pytest

from ctxlearn.data import Example
from ctxlearn.errors import ConfigError
from ctxlearn.icl.calibrate import calibrate
from ctxlearn.icl.classifier import IclClassifier
from ctxlearn.icl.prompt import PROMPTS
from ctxlearn.icl.select import select
from icl_fixtures import lm, tiny_lm  # noqa: F401  (fixtures)

LABELS = ["negative", "positive"]
POOL = [Example(" ".join(["the movie was"] + ["very"] * (i % 5) + [["bad", "good"][i % 2]]), LABELS[i % 2])
        for i in range(12)]
QUERIES = [Example("the film was good", "positive"), Example("the plot was awful", "negative"),
           Example("the story was really nice", "positive")]


def classifier(lm, **kw) -> IclClassifier:
    model, tokenizer = lm
    return IclClassifier(model, tokenizer, LABELS, PROMPTS.get("single"), POOL, **{"select": "random", "shots": 4, **kw})


def test_long_prompts_drop_demonstrations_first_never_the_query(lm) -> None:
    _, tokenizer = lm
    full = classifier(lm, select="random-each", max_context=0).predict(QUERIES)
    assert full.dropped == 0 and all(len(d) == 4 for d in full.demos)
    tight = classifier(lm, select="random-each", max_context=30)
    result = tight.predict(QUERIES)
    assert result.shortened == 3 and result.dropped > 0 and result.cut == 0
    for demos, kept, q in zip(full.demos, result.demos, QUERIES):
        assert kept == demos[len(demos) - len(kept):]  # the first ones went
        prompt = tight._ids(tight.spec.context([POOL[j] for j in kept], q))
        assert len(prompt) + 1 <= 30
        query = tokenizer(tight.spec.fill(q), add_special_tokens=False)["input_ids"]
        assert list(prompt[-len(query):]) == query


def nearest_first(examples: list[Example]) -> np.ndarray:
    """A fake sentence encoder: pool example i at 7 i degrees (a repeated text at its first place), every
    query at 0 degrees, so the lower a demonstration's index, the more similar it is."""
    angles = np.radians([7.0 * POOL.index(ex) if ex in POOL else 0.0 for ex in examples])
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


@pytest.mark.parametrize("order", ["similar-last", "similar-first", "random"])
def test_long_prompts_drop_the_least_similar_demonstrations_whatever_the_order(lm, order: str) -> None:
    full = classifier(lm, select="knn", embed=nearest_first, order=order).predict(QUERIES)
    tight = classifier(lm, select="knn", embed=nearest_first, order=order, max_context=30).predict(QUERIES)
    assert tight.dropped > 0 and tight.cut == 0
    for shown, kept in zip(full.demos, tight.demos):
        nearest = sorted(shown, key=lambda j: (POOL.index(POOL[j]), j))[:len(kept)]
        assert kept == [j for j in shown if j in nearest]  # the nearest stay, where they were shown


def test_a_query_longer_than_the_context_is_cut_from_the_left(lm) -> None:
    long = Example(" ".join(["good"] * 40), "positive")
    result = classifier(lm, max_context=20).predict([long])
    assert result.cut == 1 and result.demos == [[]] and np.isfinite(result.probs).all()


def test_a_context_past_the_lms_positions_is_refused(lm) -> None:
    """--max-context 50000 on an 8,192-position LM was taken, and a 8,600-token prompt scored past its positions."""
    positions = lm[0].config.max_position_embeddings
    assert classifier(lm, max_context=positions).max_context == positions
    with pytest.raises(ConfigError, match=f"--max-context {positions + 1} is past the {positions} positions"):
        classifier(lm, max_context=positions + 1)


def test_calibration_divides_out_the_bias_of_each_querys_demonstrations(lm) -> None:
    plain = classifier(lm, select="random-each", seed=5).predict(QUERIES)
    cal = classifier(lm, select="random-each", seed=5, calibrate=True).predict(QUERIES)
    assert cal.demos == plain.demos and cal.bias.shape == (3, 2)
    assert len({tuple(b) for b in cal.bias}) == 3  # every query has its own demonstrations, so its own bias
    np.testing.assert_allclose(cal.raw, plain.raw, atol=1e-6)
    np.testing.assert_allclose(cal.probs, calibrate(cal.raw, cal.bias), atol=1e-12)
    shared = classifier(lm, calibrate=True).predict(QUERIES)
    assert np.allclose(shared.bias, shared.bias[0])  # shared demonstrations: one bias for all


def test_stored_demonstrations_reproduce_a_shared_selection(lm) -> None:
    drawn = classifier(lm, seed=3).predict(QUERIES)
    stored = [POOL[j] for j in select("random", POOL, QUERIES[:1], 4, seed=3)[0]]
    model, tokenizer = lm
    fixed = IclClassifier(model, tokenizer, LABELS, PROMPTS.get("single"), stored, select="fixed", shots=len(stored),
                          order="similar-first").predict(QUERIES)
    np.testing.assert_allclose(fixed.probs, drawn.probs, atol=1e-6)


def test_probabilities_are_normalised_and_finite(lm) -> None:
    result = classifier(lm, shots=0).predict(QUERIES)
    assert result.probs.shape == (3, 2) and np.isfinite(result.probs).all()
    np.testing.assert_allclose(result.probs.sum(1), 1.0)
    assert classifier(lm).predict([]).probs.shape == (0, 2)


def test_labels_the_tokenizer_cannot_tell_apart_are_refused(lm) -> None:
    from ctxlearn.errors import ConfigError

    model, tokenizer = lm
    spec = PROMPTS.get("single").__class__(verbalizer={"negative": "zzz", "positive": "qqq"})  # both [UNK]
    with pytest.raises(ConfigError, match="same tokens"):
        IclClassifier(model, tokenizer, LABELS, spec, POOL)
