from __future__ import annotations

import pytest
import torch
from torch import nn

from ctxlearn.models.dropout import FastDropout, use_fast_dropout


def test_keeps_one_minus_p_and_rescales() -> None:
    torch.manual_seed(0)
    x = torch.ones(400_000)
    y = FastDropout(0.1).train()(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.003
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.9))


def test_deterministic_under_seed_and_identity_in_eval() -> None:
    x = torch.randn(64, 33)
    torch.manual_seed(5)
    a = FastDropout(0.3).train()(x)
    torch.manual_seed(5)
    b = FastDropout(0.3).train()(x)
    assert torch.equal(a, b)
    assert torch.equal(FastDropout(0.3).eval()(x), x)


def test_bf16_gives_the_rescaled_input_or_zero_and_the_same_gradient_mask() -> None:
    x = torch.randn(8, 5, 16).to(torch.bfloat16).requires_grad_()
    torch.manual_seed(2)
    y = FastDropout(0.1).train()(x)
    kept = y != 0
    assert y.dtype == torch.bfloat16 and 0 < kept.sum() < y.numel()
    torch.testing.assert_close(y[kept], x[kept] * (1 / 0.9), rtol=0, atol=0)  # rounded once, as x * scale is
    y.float().sum().backward()
    torch.testing.assert_close(x.grad, torch.where(kept, torch.tensor(1 / 0.9).to(torch.bfloat16), 0.0).to(x.grad.dtype),
                               rtol=0, atol=0)


def test_mask_bits_are_independent_across_positions() -> None:
    """Neighbouring elements come from different 16-bit quarters of one word; they must not correlate."""
    torch.manual_seed(1)
    m = (FastDropout(0.5).train()(torch.ones(200_000)) != 0).float()
    corr = torch.corrcoef(torch.stack([m[:-1], m[1:]]))[0, 1].item()
    assert abs(corr) < 0.01


def test_swaps_every_dropout_but_keeps_p() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2), nn.Sequential(nn.Dropout(0.1)))
    assert use_fast_dropout(model) == 2
    kinds = [type(m) for m in model.modules() if isinstance(m, nn.Dropout)]
    assert kinds == [FastDropout, FastDropout]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.2, 0.1]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_the_mask_gives_the_numbers_of_where_forward_and_backward(dtype: torch.dtype) -> None:
    """Multiplying by the mask in the input's dtype replaced ``torch.where`` for speed: the same bits both ways."""
    x = torch.randn(16, 7, 24).to(dtype).requires_grad_()
    grad = torch.randn(16, 7, 24).to(dtype)
    torch.manual_seed(3)
    y = FastDropout(0.1).train()(x)
    y.backward(grad)
    torch.manual_seed(3)  # the same draws, as fast_dropout makes them
    words = torch.randint(-(2**63), 2**63 - 1, ((x.numel() + 3) // 4,), dtype=torch.int64)
    keep = words.view(torch.int16)[:x.numel()].view(x.shape) >= round(0.1 * 65536) - 32768
    x2 = x.detach().clone().requires_grad_()
    ref = torch.where(keep, x2 * (1 / 0.9), 0.0)
    ref.backward(grad)
    assert torch.equal(y, ref) and torch.equal(x.grad, x2.grad)
