"""model.py on tiny configs: shapes, masks, SDPA against the explicit reference, caches, position helpers."""
from __future__ import annotations

import pytest
import torch

from ctxlearn.errors import ConfigError
from ctxlearn.scratch import ScratchConfig, ScratchForCausalLM, ScratchForMaskedLM, ScratchForSeq2SeqLM, ScratchModel
from ctxlearn.scratch.model import alibi_slopes, build_mask, reference_attention, relative_bucket, rope, sinusoidal
from scratch_fixtures import POSITIONS, tiny


def build(cls, cfg: ScratchConfig, seed: int = 0):
    torch.manual_seed(seed)
    return cls(cfg).eval()


def ids(B: int = 2, T: int = 9, seed: int = 1) -> torch.Tensor:
    return torch.randint(2, 61, (B, T), generator=torch.Generator().manual_seed(seed))


def with_impl(model, impl: str):
    for m in model.modules():
        if hasattr(m, "impl"):
            m.impl = impl
    return model


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("arch, cls", [("encoder", ScratchForMaskedLM), ("decoder", ScratchForCausalLM),
                                       ("encoder-decoder", ScratchForSeq2SeqLM)])
def test_shapes_and_finite_loss(arch, cls, positions) -> None:
    model = build(cls, tiny(arch, positions))
    x = ids()
    out = model(input_ids=x, labels=x)
    assert out.logits.shape == (2, 9, 61)
    assert torch.isfinite(out.loss) and out.loss.item() == pytest.approx(torch.log(torch.tensor(61.0)).item(), rel=0.2)


@pytest.mark.parametrize("positions", POSITIONS)
def test_padding_changes_nothing_for_real_tokens_of_an_encoder(positions) -> None:
    model = build(ScratchModel, tiny("encoder", positions))
    x = ids(1, 6)
    alone = model(input_ids=x).last_hidden_state
    padded = torch.cat([x, torch.zeros(1, 4, dtype=torch.long)], 1)  # 4 pad tokens on the right
    mask = torch.tensor([[1] * 6 + [0] * 4])
    out = model(input_ids=padded, attention_mask=mask).last_hidden_state[:, :6]
    torch.testing.assert_close(out, alone, atol=1e-5, rtol=0)
    garbage = padded.clone()
    garbage[:, 6:] = 7  # what sits in padded positions must not matter
    torch.testing.assert_close(model(input_ids=garbage, attention_mask=mask).last_hidden_state[:, :6], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("positions", POSITIONS)
def test_future_tokens_do_not_change_the_past_of_a_decoder(positions) -> None:
    model = build(ScratchModel, tiny("decoder", positions))
    x = ids(2, 10)
    changed = x.clone()
    changed[:, 6:] = (changed[:, 6:] + 5) % 59 + 2
    a, b = model(input_ids=x).last_hidden_state, model(input_ids=changed).last_hidden_state
    torch.testing.assert_close(a[:, :6], b[:, :6], atol=1e-5, rtol=0)
    assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-3  # and they do change the future


def test_encoder_sees_both_ways() -> None:
    model = build(ScratchModel, tiny("encoder", "rope"))
    x = ids(1, 8)
    changed = x.clone()
    changed[:, -1] = (changed[:, -1] + 5) % 59 + 2
    assert (model(input_ids=x).last_hidden_state[:, 0] - model(input_ids=changed).last_hidden_state[:, 0]).abs().max() > 1e-3


MASKS = ["none", "padding", "4d-boolean"]


@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("arch", ["encoder", "decoder"])
def test_sdpa_equals_reference_attention(arch, positions, mask_kind) -> None:
    cfg = tiny(arch, positions)
    sdpa, ref = build(ScratchModel, cfg), with_impl(build(ScratchModel, cfg), "reference")
    x = ids(2, 12)
    kwargs = {}
    if mask_kind == "padding":
        kwargs["attention_mask"] = torch.tensor([[1] * 12, [1] * 7 + [0] * 5])
    elif mask_kind == "4d-boolean":  # a random allowed-pattern that always lets a token see itself
        allowed = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(0)) > 0.5
        kwargs["attention_mask"] = allowed | torch.eye(12, dtype=torch.bool)
    torch.testing.assert_close(sdpa(input_ids=x, **kwargs).last_hidden_state, ref(input_ids=x, **kwargs).last_hidden_state,
                               atol=1e-5, rtol=1e-5)


def test_reference_attention_matches_sdpa_with_dropout_off_and_causal_flag() -> None:
    q, k, v = torch.randn(3, 2, 4, 5, 8).unbind(0)
    for causal in (False, True):
        torch.testing.assert_close(reference_attention(q, k, v, is_causal=causal),
                                   torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal), atol=1e-6, rtol=0)


@pytest.mark.parametrize("positions", POSITIONS)
def test_cached_decoding_equals_one_full_pass(positions) -> None:
    model = build(ScratchForCausalLM, tiny("decoder", positions))
    x = ids(2, 11)
    full = model(input_ids=x).logits
    first = model(input_ids=x[:, :7], use_cache=True)
    step = model(input_ids=x[:, 7:9], cache=first.cache)
    last = model(input_ids=x[:, 9:], cache=step.cache)
    torch.testing.assert_close(torch.cat([first.logits, step.logits, last.logits], 1), full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("positions", POSITIONS)
def test_left_padded_cached_decoding_equals_the_unpadded_row(positions) -> None:
    """With a 2-D mask and no position_ids, a left-padded row's tokens and its cached keys sit where
    they would unpadded: every step's logits match the row run alone."""
    model = build(ScratchForCausalLM, tiny("decoder", positions))
    x = ids(1, 8)
    alone = model(input_ids=x).logits
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), x], 1)
    mask = torch.tensor([[0] * 3 + [1] * 8])
    first = model(input_ids=padded[:, :8], attention_mask=mask[:, :8], use_cache=True)
    step = model(input_ids=padded[:, 8:10], attention_mask=mask[:, :10], cache=first.cache)
    last = model(input_ids=padded[:, 10:], attention_mask=mask, cache=step.cache)
    torch.testing.assert_close(torch.cat([first.logits[:, 3:], step.logits, last.logits], 1), alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("positions", POSITIONS)
def test_encoder_decoder_ignores_padded_encoder_tokens(positions) -> None:
    model = build(ScratchForSeq2SeqLM, tiny("encoder-decoder", positions))
    src, tgt = ids(1, 5), ids(1, 4, seed=3)
    alone = model(input_ids=src, decoder_input_ids=tgt).logits
    padded = model(input_ids=torch.cat([src, torch.full((1, 3), 9)], 1), attention_mask=torch.tensor([[1] * 5 + [0] * 3]),
                   decoder_input_ids=tgt).logits
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=0)


def test_pre_and_post_ln_differ_and_both_train() -> None:
    x = ids(2, 8)
    losses = {}
    for norm in ("pre", "post"):
        model = build(ScratchForCausalLM, tiny("decoder", "rope", norm=norm)).train()
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        first = None
        for _ in range(15):
            loss = model(input_ids=x, labels=x).loss
            first = first if first is not None else loss.item()
            loss.backward()
            opt.step()
            opt.zero_grad()
        losses[norm] = (first, loss.item())
    assert all(last < 0.7 * first for first, last in losses.values())
    assert losses["pre"] != losses["post"]
    assert build(ScratchModel, tiny("decoder", "rope", norm="post")).decoder.norm is None  # post-LN: no final norm


@pytest.mark.parametrize("field, value", [("arch", "rnn"), ("positions", "xpos"), ("norm", "mid"), ("n_head", 5),
                                          ("attention_impl", "flash"), ("activation", "swish")])
def test_bad_config_names_the_field(field, value) -> None:
    with pytest.raises(ConfigError, match=field):
        tiny(**{field: value})


def test_learned_positions_refuse_inputs_past_their_table() -> None:
    model = build(ScratchModel, tiny("decoder", "learned", max_len=8))
    with pytest.raises(ConfigError, match="max_len 8"):
        model(input_ids=ids(1, 9))


def test_heads_refuse_the_wrong_architecture() -> None:
    with pytest.raises(ConfigError, match="arch 'decoder'"):
        ScratchForCausalLM(tiny("encoder"))


# ----------------------------------------------------------------------------- position helpers

def test_relative_buckets_equal_t5s() -> None:
    from transformers.models.t5.modeling_t5 import T5Attention

    rel = torch.arange(-300, 300)[None, :]
    for bidirectional in (True, False):
        theirs = T5Attention._relative_position_bucket(rel, bidirectional=bidirectional, num_buckets=32, max_distance=128)
        assert torch.equal(relative_bucket(rel, bidirectional, 32, 128), theirs)


@pytest.mark.parametrize("n, expected", [(8, [2 ** -(i + 1) for i in range(8)]),
                                         (4, [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8]),
                                         (6, [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3])])
def test_alibi_slopes_are_the_papers(n, expected) -> None:
    torch.testing.assert_close(alibi_slopes(n), torch.tensor(expected))


def test_rope_keeps_norms_and_makes_scores_depend_on_distance_only() -> None:
    q, k = torch.randn(2, 1, 1, 1, 16).unbind(0)
    def score(i: int, j: int) -> float:
        return (rope(q, torch.tensor([[i]]), 1e4) * rope(k, torch.tensor([[j]]), 1e4)).sum().item()
    assert score(3, 1) == pytest.approx(score(10, 8), abs=1e-5)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)
    torch.testing.assert_close(rope(q, torch.tensor([[7]]), 1e4).norm(), q.norm())


def test_sinusoidal_matches_the_formula() -> None:
    pe = sinusoidal(torch.tensor([[5]]), 8)[0, 0]
    for i in range(4):
        angle = torch.tensor(5 / 10000 ** (2 * i / 8))
        assert pe[2 * i].item() == pytest.approx(torch.sin(angle).item(), abs=1e-6)
        assert pe[2 * i + 1].item() == pytest.approx(torch.cos(angle).item(), abs=1e-6)


def test_build_mask_combines_causal_and_padding() -> None:
    mask = build_mask(torch.tensor([[1, 1, 0]]), 3, 3, True, torch.float32)
    allowed = mask[0, 0] == 0
    assert allowed.tolist() == [[True, False, False], [True, True, False], [True, True, False]]
    assert build_mask(None, 3, 3, False, torch.float32) is None
