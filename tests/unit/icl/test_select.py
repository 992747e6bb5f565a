"""Demonstration selection: deterministic under a seed, balanced per class, nearest neighbours, orders."""
from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from ctxlearn.data import Example
from ctxlearn.errors import ConfigError
from ctxlearn.icl.select import ORDERS, SELECTORS, draws_nothing, order_demos, select

POOL = [Example(f"text {i}", ["a", "b", "c"][i % 3]) for i in range(30)]
QUERIES = [Example(f"query {i}", "a") for i in range(5)]


def fake_embed(examples: list[Example]) -> np.ndarray:
    """Unit vectors on a circle: the angle of 'text i' is i degrees, of 'query i' is 10 * i + 0.4."""
    angles = [np.radians(float(ex.text.split()[1]) * (10 if ex.text.startswith("query") else 1)
                         + (0.4 if ex.text.startswith("query") else 0)) for ex in examples]
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


@pytest.mark.parametrize("name", SELECTORS.names())
def test_every_selector_is_deterministic_under_a_seed(name: str) -> None:
    first = select(name, POOL, QUERIES, 4, seed=3, embed=fake_embed)
    assert first == select(name, POOL, QUERIES, 4, seed=3, embed=fake_embed)
    assert all(len(d) == 4 and len(set(d)) == 4 for d in first)
    if SELECTORS.get(name).shared:
        assert all(d == first[0] for d in first)


@pytest.mark.parametrize("name", ["random", "balanced", "random-each"])
def test_random_selectors_change_with_the_seed(name: str) -> None:
    assert select(name, POOL, QUERIES, 4, seed=0) != select(name, POOL, QUERIES, 4, seed=1)


@pytest.mark.parametrize("name", SELECTORS.names())
@pytest.mark.parametrize("order", ORDERS)
def test_draws_nothing_exactly_when_no_seed_changes_the_demonstrations(name: str, order: str) -> None:
    by_seed = [select(name, POOL, QUERIES, 4, seed=s, order=order, embed=fake_embed) for s in range(4)]
    assert draws_nothing(name, order, 4) == all(d == by_seed[0] for d in by_seed)
    assert draws_nothing(name, order, 0)  # no demonstrations: nothing to draw


@pytest.mark.parametrize("k, expected", [(6, {"a": 2, "b": 2, "c": 2}), (3, {"a": 1, "b": 1, "c": 1})])
def test_balanced_gives_every_class_the_same_count(k: int, expected: dict[str, int]) -> None:
    for seed in range(5):
        [demos, *_] = select("balanced", POOL, QUERIES, k, seed=seed)
        assert Counter(POOL[j].label for j in demos) == expected


def test_balanced_spreads_the_remainder_over_distinct_classes() -> None:
    [demos, *_] = select("balanced", POOL, QUERIES, 4, seed=0)
    assert sorted(Counter(POOL[j].label for j in demos).values()) == [1, 1, 2]


@pytest.mark.parametrize("name", ["balanced", "knn-balanced"])
def test_a_class_with_too_few_examples_leaves_its_places_to_the_others(name: str) -> None:
    """One 'neu' example against a share of 2 gave 5 of 6 demonstrations, and the run called the missing
    one dropped for the context."""
    pool = [Example(f"text {i}", "neu" if i == 9 else ["pos", "neg"][i % 2]) for i in range(10)]
    for seed in range(4):
        [demos, *_] = select(name, pool, QUERIES, 6, seed=seed, embed=fake_embed)
        assert len(demos) == len(set(demos)) == 6 and 9 in demos
        assert Counter(pool[j].label for j in demos)["neu"] == 1


def test_knn_returns_the_nearest_most_similar_last_by_default() -> None:
    demos = select("knn", POOL, QUERIES, 3, seed=0, embed=fake_embed)
    assert demos[0] == [2, 1, 0]  # query 0 sits at 0.4 degrees: 0 nearest, then 1, then 2
    assert demos[2] == [19, 21, 20]  # query 2 at 20.4 degrees: 20, then 21 (0.6 away), then 19 (1.4)
    assert select("knn", POOL, QUERIES, 3, seed=0, order="similar-first", embed=fake_embed)[0] == [0, 1, 2]


def test_random_each_draws_as_lm_eval_does() -> None:
    rnd = random.Random(1234)  # lm-eval's ContextSampler: Random(fewshot_random_seed).sample(docs, k) per doc
    expected = [rnd.sample(range(len(POOL)), 4) for _ in QUERIES]
    assert select("random-each", POOL, QUERIES, 4, seed=1234) == expected


def test_random_order_keeps_shared_demonstrations_shared() -> None:
    shared = [[1, 2, 3, 4]] * 3
    ordered = order_demos(shared, "random", ranked=False, seed=0)
    assert all(d == ordered[0] for d in ordered) and sorted(ordered[0]) == [1, 2, 3, 4]
    assert order_demos([[1, 2, 3]], "similar-last", ranked=False, seed=0) == [[1, 2, 3]]  # a random draw keeps its order


def test_zero_shots_and_errors() -> None:
    assert select("knn", POOL, QUERIES, 0, seed=0) == [[]] * 5
    with pytest.raises(ConfigError, match="unknown demonstration selector 'nearest'"):
        select("nearest", POOL, QUERIES, 2, seed=0)
    with pytest.raises(ConfigError, match="sentence encoder"):
        select("knn", POOL, QUERIES, 2, seed=0)
    with pytest.raises(ConfigError, match="unknown order"):
        select("random", POOL, QUERIES, 2, seed=0, order="best-first")


def test_knn_balanced_takes_the_nearest_of_each_class_up_to_its_quota() -> None:
    # query 0 at 0.4 degrees: 0 (a), 1 (b), 2 (c), 3 (a), 4 (b), 5 (c)...; k = 6 over 3 classes: 2 each
    demos = select("knn-balanced", POOL, QUERIES, 6, seed=0, order="similar-first", embed=fake_embed)
    assert demos[0] == [0, 1, 2, 3, 4, 5]
    skewed = [Example(f"text {i}", "a" if i < 10 else "b") for i in range(20)]
    [first, *_] = select("knn-balanced", skewed, QUERIES, 4, seed=0, order="similar-first", embed=fake_embed)
    assert first == [0, 1, 10, 11]  # the two nearest a's, then the two nearest b's (quota 2 each)


@pytest.mark.parametrize("name, order", [("random-each", "similar-last"), ("random-each", "random"),
                                         ("knn", "random"), ("knn-balanced", "random")])
def test_per_query_selection_does_not_depend_on_the_rest_of_the_batch(name: str, order: str) -> None:
    batch = select(name, POOL, QUERIES, 4, seed=3, order=order, embed=fake_embed, per_query=True)
    alone = [select(name, POOL, [q], 4, seed=3, order=order, embed=fake_embed, per_query=True)[0] for q in QUERIES]
    backwards = select(name, POOL, QUERIES[::-1], 4, seed=3, order=order, embed=fake_embed, per_query=True)[::-1]
    assert batch == alone == backwards
    assert len({tuple(d) for d in batch}) > 1  # still drawn or shuffled per query, not once for all


def test_per_query_draws_come_from_the_seed_and_the_text_alone() -> None:
    [first] = select("random-each", POOL, [Example("the query", "a")], 4, seed=0, per_query=True)
    assert first == select("random-each", POOL, [Example("the query", "b", line=9)], 4, seed=0, per_query=True)[0]
    assert first != select("random-each", POOL, [Example("the query", "a")], 4, seed=1, per_query=True)[0]
    assert first != select("random-each", POOL, [Example("the query", "a", "a pair")], 4, seed=0, per_query=True)[0]
    assert first == [20, 15, 27, 17]  # stored: a salted hash() would change it from one process to the next


def test_shared_selectors_stay_shared_per_query() -> None:
    for name in ("random", "balanced"):
        assert select(name, POOL, QUERIES, 4, seed=3, order="random", per_query=True) == \
            select(name, POOL, QUERIES, 4, seed=3, order="random")
