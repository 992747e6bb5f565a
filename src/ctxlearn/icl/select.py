"""Demonstration selection: which k training examples each query sees, and in what order.

Shared selectors (``random``, ``balanced``, ``fixed``) give every query the same demonstrations, so
their key/value cache is computed once. Per-query selectors (``knn``, ``random-each``) give each
query its own. Every selector is deterministic for a given seed.

Random draws and random orders come in two modes. By default one generator runs over the queries in
order, as lm-evaluation-harness draws (so ``random-each`` reproduces its prompts byte for byte in an
evaluation run). With ``per_query=True`` each query's generator is seeded from the seed and the query's
own text (:func:`query_seed`), so its demonstrations do not depend on which other queries share the
call or where it sits among them: what prediction on new inputs needs (``predict``, ``serve``).
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ctxlearn.data import Example
from ctxlearn.errors import ConfigError
from ctxlearn.registry import Registry

Embed = Callable[[list[Example]], np.ndarray]  # examples -> (N, D) unit vectors
Pick = Callable[[list[Example], list[Example], int, int, "Embed | None"], list[list[int]]]
ORDERS = ("similar-last", "similar-first", "random")


@dataclass(frozen=True)
class Selector:
    name: str
    pick: Pick  # (pool, queries, k, seed, embed) -> pool indices per query, most similar first if ranked
    shared: bool  # every query gets the same demonstrations
    ranked: bool  # by similarity to the query (needs a sentence encoder; --order applies)
    help: str
    draws: bool  # the seed picks the demonstrations (random draws)


SELECTORS: Registry[Selector] = Registry("demonstration selector")


def selector(name: str, *, shared: bool, ranked: bool = False, draws: bool = True, help: str) -> Callable[[Pick], Pick]:
    def add(fn: Pick) -> Pick:
        SELECTORS.register(name)(Selector(name, fn, shared, ranked, help, draws))
        return fn

    return add


@selector("random", shared=True, help="k training examples drawn at random once (fixed per seed), shared by every query")
def pick_random(pool: list[Example], queries: list[Example], k: int, seed: int, embed: Embed | None = None) -> list[list[int]]:
    drawn = np.random.default_rng(seed).choice(len(pool), size=min(k, len(pool)), replace=False).tolist()
    return [drawn] * len(queries)


@selector("balanced", shared=True,
          help="k // C examples of every class (the remainder to random classes; a class with too few leaves its "
               "places to the others), shuffled, shared")
def pick_balanced(pool: list[Example], queries: list[Example], k: int, seed: int, embed: Embed | None = None) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, ex in enumerate(pool):
        by_class.setdefault(ex.label, []).append(i)
    classes = sorted(by_class)
    counts = dict.fromkeys(classes, k // len(classes))
    for lab in rng.choice(classes, size=k % len(classes), replace=False):
        counts[str(lab)] += 1
    drawn = [int(i) for lab in classes
             for i in rng.choice(by_class[lab], size=min(counts[lab], len(by_class[lab])), replace=False)]
    short = min(k, len(pool)) - len(drawn)  # a class with fewer examples than its share: others take its places
    if short:
        taken = set(drawn)
        drawn += [int(i) for i in rng.choice([i for i in range(len(pool)) if i not in taken], size=short,
                                             replace=False)]
    return [rng.permutation(drawn).tolist()] * len(queries)


@selector("fixed", shared=True, draws=False,
          help="the first k examples of the pool, in order (how a saved run keeps its shared demonstrations)")
def pick_fixed(pool: list[Example], queries: list[Example], k: int, seed: int, embed: Embed | None = None) -> list[list[int]]:
    return [list(range(min(k, len(pool))))] * len(queries)


@selector("random-each", shared=False, help="k examples drawn at random for every query, as lm-evaluation-harness does")
def pick_random_each(pool: list[Example], queries: list[Example], k: int, seed: int,
                     embed: Embed | None = None) -> list[list[int]]:
    # random.Random.sample, in query order: with the same seed, the same draws as lm-eval's sampler
    # (its fewshot_random_seed) when the demonstrations come from another split than the queries.
    rnd = random.Random(seed)
    return [rnd.sample(range(len(pool)), min(k, len(pool))) for _ in queries]


def _ranked(pool: list[Example], queries: list[Example], embed: Embed | None, depth: int) -> list[list[int]]:
    """Per query, the ``depth`` nearest pool indices, most similar first (ties: lower index first)."""
    if embed is None:
        raise ConfigError("knn selection needs a sentence encoder (--encoder)")
    index, vectors = embed(pool), embed(queries)
    depth = min(depth, len(pool))
    out: list[list[int]] = []
    for start in range(0, len(queries), 1024):  # bounded memory: (1024, pool) similarities at a time
        sims = vectors[start:start + 1024] @ index.T
        top = np.argpartition(-sims, depth - 1, axis=1)[:, :depth]
        out += [sorted(cand.tolist(), key=lambda j: (-row[j], j)) for row, cand in zip(sims, top)]
    return out


@selector("knn", shared=False, ranked=True, draws=False, help="the k training examples nearest to each query (cosine of sentence vectors)")
def pick_knn(pool: list[Example], queries: list[Example], k: int, seed: int, embed: Embed | None = None) -> list[list[int]]:
    return _ranked(pool, queries, embed, k)


@selector("knn-balanced", shared=False, ranked=True, draws=False,
          help="the nearest training examples to each query, at most ceil(k / C) of any class "
               "(so the neighbours' labels do not all agree) while the others have examples to give")
def pick_knn_balanced(pool: list[Example], queries: list[Example], k: int, seed: int,
                      embed: Embed | None = None) -> list[list[int]]:
    quota = -(-k // len({ex.label for ex in pool}))
    out = []
    for ranked in _ranked(pool, queries, embed, len(pool)):
        taken: list[int] = []
        counts: dict[str, int] = {}
        for j in ranked:
            if counts.get(pool[j].label, 0) < quota:
                counts[pool[j].label] = counts.get(pool[j].label, 0) + 1
                taken.append(j)
                if len(taken) == k:
                    break
        if len(taken) < min(k, len(pool)):  # a class short of its quota: the nearest of the others fill its places
            kept = set(taken)
            kept.update([j for j in ranked if j not in kept][:min(k, len(pool)) - len(taken)])
            taken = [j for j in ranked if j in kept]  # most similar first, as ranked picks come
        out.append(taken)
    return out


def query_seed(seed: int, query: Example) -> int:
    """A seed from ``seed`` and the query's text (and pair) alone: sha256, because Python's ``hash()`` of a
    string is salted per process, and not the label, which new inputs do not have."""
    content = json.dumps([seed, query.text, query.text_pair], ensure_ascii=False).encode("utf-8")
    return int.from_bytes(hashlib.sha256(content).digest()[:8], "big")


def order_demos(picked: list[list[int]], order: str, ranked: bool, seed: int,
                seeds: list[int] | None = None) -> list[list[int]]:
    """Put each query's demonstrations in ``order``. Ranked lists come most similar first; unranked
    ones (random draws) keep their order unless ``order`` is ``random``. ``similar-last`` puts the
    most similar next to the query, where a small LM's recency bias gives it the most weight.
    ``seeds`` (one per query) seed each query's random order on its own instead of in query order."""
    if order not in ORDERS:
        raise ConfigError(f"unknown order {order!r}; choose one of: {', '.join(ORDERS)}")
    if order == "random" and seeds is not None:
        return [np.random.default_rng(s).permutation(p).tolist() for p, s in zip(picked, seeds)]
    if order == "random":  # one permutation per distinct list, so shared demonstrations stay shared
        rng, seen = np.random.default_rng(seed), {}
        for p in picked:
            if tuple(p) not in seen:
                seen[tuple(p)] = rng.permutation(p).tolist()
        return [list(seen[tuple(p)]) for p in picked]
    if order == "similar-last" and ranked:
        return [p[::-1] for p in picked]
    return [list(p) for p in picked]


def _seeds(sel: Selector, queries: list[Example], seed: int, per_query: bool) -> list[int] | None:
    # shared selectors draw once for every query, so they never depend on the batch
    return [query_seed(seed, q) for q in queries] if per_query and not sel.shared else None


def pick(name: str, pool: list[Example], queries: list[Example], k: int, seed: int, embed: Embed | None = None,
         *, per_query: bool = False) -> list[list[int]]:
    """Pool indices of each query's demonstrations, most similar first when the selector ranks them,
    else in draw order. ``per_query``: see the module docstring."""
    sel = SELECTORS.get(name)
    if k < 0:
        raise ConfigError(f"shots must be >= 0, not {k}")
    if k == 0 or not queries:
        return [[] for _ in queries]
    seeds = _seeds(sel, queries, seed, per_query)
    if seeds is None or sel.ranked:  # a query's neighbours are its own already
        return sel.pick(pool, queries, k, seed, embed)
    return [sel.pick(pool, [q], k, s, embed)[0] for q, s in zip(queries, seeds)]


def arrange(name: str, picked: list[list[int]], queries: list[Example], order: str, seed: int, *,
            per_query: bool = False) -> list[list[int]]:
    """:func:`pick`'s lists in prompt order (``order``; random orders seeded as :func:`pick` draws)."""
    sel = SELECTORS.get(name)
    return order_demos(picked, order, sel.ranked, seed, _seeds(sel, queries, seed, per_query))


def draws_nothing(name: str, order: str, shots: int) -> bool:
    """Whether demonstrations are chosen and ordered without any draw (a selector that draws nothing, in
    an order other than random; or no demonstrations at all), so the seed cannot change them."""
    return shots == 0 or (not SELECTORS.get(name).draws and order != "random")


def select(name: str, pool: list[Example], queries: list[Example], k: int, seed: int, order: str = "similar-last",
           embed: Embed | None = None, *, per_query: bool = False) -> list[list[int]]:
    """Pool indices of each query's demonstrations, in prompt order. ``per_query=False`` (evaluation):
    random draws and orders run in query order, as lm-evaluation-harness draws; ``per_query=True``
    (prediction on new inputs): each query's come from ``seed`` and its own text, whatever the batch."""
    picked = pick(name, pool, queries, k, seed, embed, per_query=per_query)
    return arrange(name, picked, queries, order, seed, per_query=per_query)
