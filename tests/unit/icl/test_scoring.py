"""The scoring engine against a plain forward pass of the tiny Llama: shared prefix caches, packed
label branches and batching change nothing but the speed."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ctxlearn.icl.scoring import PACK_MAX_BRANCHES, Row, batches, common_prefix, pack, encode_prefix, score_prompts, score_rows
from icl_fixtures import lm, tiny_lm  # noqa: F401  (fixtures)

VERBALIZERS = [(5,), (7, 8, 9), (10, 11)]  # one single-token and two multi-token label words


def naive(model, prompt, verb) -> float:
    """Sum of the verbalizer's token log-probabilities from one plain forward of prompt + verbalizer."""
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([list(prompt) + list(verb)])).logits[0].double(), -1)
    return sum(logp[len(prompt) - 1 + t, tok].item() for t, tok in enumerate(verb))


def prompts_with_prefix(n: int, prefix_len: int = 12, seed: int = 0) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    prefix = rng.integers(2, 30, prefix_len).tolist()
    return [tuple(prefix + rng.integers(2, 30, rng.integers(1, 9)).tolist()) for _ in range(n)]


@pytest.mark.parametrize("n, groups, budget", [
    (20, "one", 60),     # one big group: a cached prefix shared by several batches
    (20, "fours", 120),  # small groups: one packed row each (trunk + branches), a few rows a batch
    (7, "each", 30),     # nothing shared
])
def test_cached_and_packed_scores_equal_plain_forward(lm, n, groups, budget) -> None:
    model, _ = lm
    prompts = prompts_with_prefix(n)
    keys = {"one": [0] * n, "fours": [i // 4 for i in range(n)], "each": list(range(n))}[groups]
    expected = np.array([[naive(model, p, v) for v in VERBALIZERS] for p in prompts])
    cached = score_prompts(model, prompts, VERBALIZERS, keys, batch_tokens=budget)
    uncached = score_prompts(model, prompts, VERBALIZERS, keys, batch_tokens=budget, share=False)
    np.testing.assert_allclose(cached, uncached, atol=1e-5, rtol=0)
    np.testing.assert_allclose(cached, expected, atol=1e-5, rtol=0)


def test_multi_token_verbalizer_is_the_sum_of_its_token_log_probs(lm) -> None:
    model, _ = lm
    prompt, verb = (3, 4, 5, 6), (7, 8, 9)
    with torch.no_grad():
        logits = model(torch.tensor([[*prompt, *verb]])).logits[0]
    logp = torch.log_softmax(logits.double(), -1)
    manual = logp[3, 7] + logp[4, 8] + logp[5, 9]  # each token given everything before it
    [scores] = score_rows(model, [Row((), (prompt,))], [verb])
    assert scores.shape == (1, 1)
    assert scores[0, 0] == pytest.approx(manual.item(), abs=1e-5)


def test_a_shared_prefix_cache_is_reused_without_leaking_state(lm) -> None:
    model, _ = lm
    prompts = prompts_with_prefix(PACK_MAX_BRANCHES + 4)
    n = common_prefix(prompts)
    prefix = encode_prefix(model, prompts[0][:n])
    before = [k.clone() for k, _ in prefix.kv]
    rows = [Row((), (p[n:],)) for p in prompts]
    first = score_rows(model, rows, VERBALIZERS, prefix, batch_tokens=50)
    second = score_rows(model, rows[::-1], VERBALIZERS, prefix, batch_tokens=90)[::-1]
    assert all(torch.equal(a, k) for a, (k, _) in zip(before, prefix.kv))
    assert all(k.shape[2] == n for k, _ in prefix.kv)
    np.testing.assert_allclose(np.stack(first), np.stack(second), atol=1e-6, rtol=0)


def test_branches_of_one_row_see_the_trunk_but_not_each_other(lm) -> None:
    model, _ = lm
    trunk, a, b = (3, 4, 5), (6, 7), (8,)
    [both] = score_rows(model, [Row(trunk, (a, b))], VERBALIZERS)
    assert both[0] == pytest.approx([naive(model, trunk + a, v) for v in VERBALIZERS], abs=1e-5)
    assert both[1] == pytest.approx([naive(model, trunk + b, v) for v in VERBALIZERS], abs=1e-5)


def test_common_prefix_leaves_every_prompt_a_token() -> None:
    assert common_prefix([(1, 2, 3), (1, 2, 4)]) == 2
    assert common_prefix([(1, 2), (1, 2)]) == 1  # duplicates: the last token predicts the label
    assert common_prefix([(1,), (2,)]) == 0


def test_batches_hold_similar_lengths_within_the_token_budget() -> None:
    lengths = [5, 30, 7, 6, 100, 8]
    out = batches(lengths, past=10, batch_tokens=60)
    assert sorted(i for b in out for i in b) == list(range(6))
    assert out == [[0, 3, 2, 5], [1], [4]]  # 4 rows * 8 tokens <= 60; a row over the budget still runs alone
    # a long shared prefix is copied per row: at most 8 * 60 tokens counting it, so two rows a batch
    assert batches(lengths, past=200, batch_tokens=60) == [[0, 3], [2, 5], [1], [4]]


def test_pack_fills_rows_best_fit_and_keeps_every_prompt_once() -> None:
    lengths = [60, 50, 40, 30, 20, 10, 200]
    bins = pack(lengths, width=100)
    assert sorted(i for b in bins for i in b) == list(range(7))
    assert [6] in bins  # wider than a row: a row of its own
    assert all(sum(lengths[i] for i in b) <= 100 for b in bins if b != [6])
    assert bins == [[6], [0, 2], [1, 3, 4], [5]]  # 200 | 60+40 | 50+30+20 | 10


def test_bf16_weights_score_close_to_fp32(tiny_lm) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    prompts = prompts_with_prefix(10)
    fp32 = score_prompts(model, prompts, VERBALIZERS, [0] * 10)
    bf16 = score_prompts(model.to(torch.bfloat16), prompts, VERBALIZERS, [0] * 10)
    assert np.isfinite(bf16).all()
    np.testing.assert_allclose(bf16, fp32, atol=0.1)
