"""In-context classification: a causal LM, a prompt spec and a pool of labelled demonstrations label
queries from their context alone. Selection -> prompts fitted to the context -> scoring -> calibration."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ctxlearn.data import Example
from ctxlearn.errors import ConfigError
from ctxlearn.icl.calibrate import CONTENT_FREE, calibrate, content_free, label_bias, label_probs
from ctxlearn.icl.prompt import PromptSpec
from ctxlearn.icl.scoring import Ids, score_prompts
from ctxlearn.icl.select import SELECTORS, Embed, arrange, pick

Keep = Callable[[str, Callable[[], np.ndarray]], np.ndarray]  # (key, score) -> the part's scores, kept or fresh


@dataclass
class IclResult:
    probs: np.ndarray  # (N, C) label probabilities, calibrated when asked
    raw: np.ndarray  # (N, C) before calibration
    bias: np.ndarray | None  # (N, C) the content-free label bias p_cf each query was calibrated with
    demos: list[list[int]]  # pool indices of the demonstrations each query saw, after fitting the context
    dropped: int  # demonstrations dropped, over all queries, to fit the context
    shortened: int  # queries that lost demonstrations to the context limit
    cut: int  # queries longer than the context on their own, cut from the left
    prompt_tokens: float  # mean prompt length in tokens


@dataclass
class _Fitted:
    demos: tuple[int, ...]
    ids: Ids
    cut: bool


class IclClassifier:
    """``predict(queries)`` -> :class:`IclResult`. Demonstrations come from ``pool`` by the named
    selector; prompts longer than the context lose demonstrations (the least similar first, whatever
    the order; unranked draws lose the first shown), never the query. ``per_query=True`` seeds each query's random draw and
    order from its own text, so its prediction does not depend on the batch (see :mod:`ctxlearn.icl.select`);
    the default draws in query order, as lm-evaluation-harness does."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, labels: list[str], spec: PromptSpec,
                 pool: list[Example], *, select: str = "knn", shots: int = 4, order: str = "similar-last",
                 seed: int = 0, calibrate: bool = False, embed: Embed | None = None, max_context: int = 0,
                 batch_tokens: int = 0, per_query: bool = False) -> None:
        self.model, self.tokenizer, self.labels, self.spec, self.pool = model.eval(), tokenizer, labels, spec, pool
        self.select, self.shots, self.order, self.seed, self.per_query = select, shots, order, seed, per_query
        self.calibrate, self.embed, self.batch_tokens = calibrate, embed, batch_tokens
        positions = getattr(model.config, "max_position_embeddings", None)
        if max_context and positions and max_context > positions:  # scored past the positions it was trained on
            raise ConfigError(f"--max-context {max_context} is past the {positions} positions the LM was trained "
                              f"with; give at most {positions}, or leave it unset for all of them")
        self.max_context = max_context or int(positions)
        self.verbalizers = [self._ids(spec.continuation(lab)) for lab in labels]
        self._check_verbalizers()

    def _check_verbalizers(self) -> None:
        seen: dict[Ids, str] = {}
        for lab, ids in zip(self.labels, self.verbalizers):
            if not ids:
                raise ConfigError(f"verbalizer: label {lab!r} has no words to score; give it some (--verbalizer label=words,...)")
            if ids in seen:
                raise ConfigError(f"verbalizer: the tokenizer gives labels {seen[ids]!r} and {lab!r} the same tokens "
                                  f"{list(ids)}; choose words it tells apart (--verbalizer label=words,...)")
            seen[ids] = lab
        if max(map(len, self.verbalizers)) >= self.max_context:
            raise ConfigError(f"max_context {self.max_context} leaves no room for a prompt before the label words")

    @property
    def room(self) -> int:
        """Most prompt tokens that leave room for the longest label words in the context."""
        return self.max_context - max(len(v) for v in self.verbalizers)

    def _ids(self, text: str) -> Ids:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _fit(self, demos: list[int], drop: list[int], query: Example, ids: Ids) -> _Fitted:
        """Drop demonstrations in ``drop``'s order until prompt and the longest verbalizer fit the
        context; the others keep their places in ``demos``."""
        room = self.room
        for gone in drop:
            if len(ids) <= room:
                break
            demos = [j for j in demos if j != gone]
            ids = self._ids(self.spec.context([self.pool[j] for j in demos], query))
        return _Fitted(tuple(demos), ids[-room:], len(ids) > room)

    def _prompts(self, queries: list[Example]) -> list[_Fitted]:
        picked = pick(self.select, self.pool, queries, self.shots, self.seed, self.embed, per_query=self.per_query)
        demos = arrange(self.select, picked, queries, self.order, self.seed, per_query=self.per_query)
        # ranked picks come most similar first, so the least similar go first, wherever they are shown
        drops = [p[::-1] for p in picked] if SELECTORS.get(self.select).ranked else demos
        texts = [self.spec.context([self.pool[j] for j in d], q) for d, q in zip(demos, queries)]
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        return [self._fit(d, drop, q, tuple(i)) for d, drop, q, i in zip(demos, drops, queries, ids)]

    def _content_free(self, fitted: list[_Fitted], queries: list[Example]) -> dict[tuple[int, ...], list[Ids]]:
        """For every distinct set of demonstrations, the prompts of the content-free inputs after it."""
        out: dict[tuple[int, ...], list[Ids]] = {}
        for f, q in zip(fitted, queries):
            if f.demos not in out:
                demos = [self.pool[j] for j in f.demos]
                out[f.demos] = [self._ids(self.spec.context(demos, content_free(q, t)))[-self.room:] for t in CONTENT_FREE]
        return out

    def predict(self, queries: list[Example], part: int = 0, report: Callable[[int, int], None] | None = None,
                keep: Keep | None = None) -> IclResult:
        """Label probabilities of ``queries``. With ``part``, they are scored ``part`` at a time and
        ``report(done, kept)`` is called after each part (progress on a long test set; ``kept`` of the
        ``done`` queries were read back by ``keep``, not scored); the demonstrations are
        drawn and the prompts built for all queries first, so parts change no prompt. ``keep(key, score)``
        returns a part's scores, from ``score()`` or from where it kept them under ``key``, a hash of
        the part's prompts and label words: an interrupted run scores again only the parts it lacks."""
        fitted = self._prompts(queries)
        cf = self._content_free(fitted, queries) if self.calibrate else {}
        # content-free prompts join their demonstrations' group, so they share its prefix work
        prompts = [f.ids for f in fitted] + [ids for group in cf.values() for ids in group]
        groups = [f.demos for f in fitted] + [key for key, group in cf.items() for _ in group]
        brings, seen = [], set()  # a set of demonstrations' content-free prompts go with its first query (cf's order)
        for f in fitted:
            brings.append(0 if f.demos in seen else len(cf.get(f.demos, ())))
            seen.add(f.demos)
        scores = self._score(prompts, groups, brings, part, report, keep)
        raw = label_probs(scores[:len(queries)])
        bias = self._bias(scores[len(queries):], cf, fitted) if self.calibrate else None
        return self._result(raw, bias, fitted)

    def _score(self, prompts: list[Ids], groups: list[Any], brings: list[int], part: int,
               report: Callable[[int, int], None] | None, keep: Keep | None) -> np.ndarray:
        """Scores of ``prompts``: the queries' in order, then the content-free ones, of which query i
        first needs ``brings[i]``. A part scores its queries with the content-free prompts they first
        need, which share their demonstrations' prefix work: with them all in the last part, 200 knn
        queries ended on 50 s of calibration after "ETA 2 s"."""
        n_queries = len(brings)
        if not part or n_queries <= part:
            return score_prompts(self.model, prompts, self.verbalizers, groups, self.batch_tokens)
        cf_start = n_queries + np.cumsum([0, *brings])  # where query i's content-free prompts begin
        scores, order = [], []
        kept = 0  # queries whose scores were read back, not scored here
        for lo in range(0, n_queries, part):
            hi = min(lo + part, n_queries)
            idx = [*range(lo, hi), *range(cf_start[lo], cf_start[hi])]
            these, those = [prompts[i] for i in idx], [groups[i] for i in idx]
            scored = []

            def score(these: list[Ids] = these, those: list[Any] = those) -> np.ndarray:
                scored.append(True)
                return score_prompts(self.model, these, self.verbalizers, those, self.batch_tokens)

            key = hashlib.sha256(repr((these, those, self.verbalizers)).encode()).hexdigest()[:32]
            scores.append(keep(key, score) if keep else score())
            order += idx
            kept += 0 if scored else hi - lo
            if report:
                report(hi, kept)
        stacked = np.concatenate(scores)
        out = np.empty_like(stacked)
        out[order] = stacked
        return out

    def _bias(self, cf_scores: np.ndarray, cf: dict[tuple[int, ...], list[Ids]], fitted: list[_Fitted]) -> np.ndarray:
        """(N, C): for each query, p_cf of the content-free prompts that share its demonstrations."""
        per_key, start = {}, 0
        for key, group in cf.items():
            per_key[key] = label_bias(cf_scores[start:start + len(group)])
            start += len(group)
        return np.stack([per_key[f.demos] for f in fitted]) if fitted else np.zeros((0, len(self.labels)))

    def _result(self, raw: np.ndarray, bias: np.ndarray | None, fitted: list[_Fitted]) -> IclResult:
        wanted = min(self.shots, len(self.pool))
        return IclResult(probs=raw if bias is None else calibrate(raw, bias), raw=raw, bias=bias,
                         demos=[list(f.demos) for f in fitted],
                         dropped=sum(wanted - len(f.demos) for f in fitted),
                         shortened=sum(len(f.demos) < wanted for f in fitted),
                         cut=sum(f.cut for f in fitted),
                         prompt_tokens=float(np.mean([len(f.ids) for f in fitted])) if fitted else 0.0)
