"""The CPU training attention: SDPA's arithmetic with the fast dropout mask, switched on for SDPA
backbones only, and left out of what is saved."""
from __future__ import annotations

import torch
from transformers import BertConfig, BertModel
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from ctxlearn.models.attention import FUSED_FROM, NAME, cpu_attention, use_cpu_attention
from ctxlearn.models.dropout import fast_dropout


class Module(torch.nn.Module):
    is_causal = False


def qkv(seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, 3, 5, 4, generator=g) for _ in range(3))  # (B, H, T, D)


def padding_mask() -> torch.Tensor:
    keys = torch.tensor([[True] * 5, [True, True, True, False, False]])  # the second row has 2 padded keys
    return keys[:, None, None, :].expand(2, 1, 5, 5)  # (B, 1, T, S), True where a query may attend


def test_matches_sdpa_when_nothing_is_dropped() -> None:
    q, k, v = qkv()
    # p below 1/65536 rounds to a threshold that keeps every element, so the mask path runs but drops nothing
    ours, _ = cpu_attention(Module(), q, k, v, padding_mask(), dropout=1e-9)
    ref, _ = sdpa_attention_forward(Module(), q, k, v, padding_mask(), dropout=0.0)
    assert ours.shape == (2, 5, 3, 4)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_dropout_masks_the_probabilities_as_fast_dropout_does() -> None:
    q, k, v = qkv(1)
    torch.manual_seed(3)
    ours, _ = cpu_attention(Module(), q, k, v, None, dropout=0.5)
    torch.manual_seed(3)
    probs = fast_dropout(torch.softmax(q @ k.transpose(2, 3) * 0.5, dim=-1), 0.5)  # scale 4 ** -0.5
    torch.testing.assert_close(ours, (probs @ v).transpose(1, 2), atol=1e-6, rtol=1e-6)
    assert not torch.allclose(ours, sdpa_attention_forward(Module(), q, k, v, None, dropout=0.0)[0], atol=1e-3)


def test_causal_attention_without_a_mask_goes_to_sdpa() -> None:
    q, k, v = qkv(2)
    causal = Module()
    causal.is_causal = True
    torch.manual_seed(0)
    ours, _ = cpu_attention(causal, q, k, v, None, dropout=0.1)
    torch.manual_seed(0)
    ref, _ = sdpa_attention_forward(causal, q, k, v, None, dropout=0.1)
    torch.testing.assert_close(ours, ref)


def test_a_bert_backbone_switches_trains_and_saves_without_it(tmp_path) -> None:
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=1e-9)
    torch.manual_seed(0)
    model = BertModel(cfg, add_pooling_layer=False).train()
    ids, mask = torch.randint(0, 50, (2, 7)), torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    before = model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert use_cpu_attention(model) and model.config._attn_implementation == NAME
    after = model(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    after.sum().backward()
    assert model.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    model.save_pretrained(tmp_path)
    assert NAME not in (tmp_path / "config.json").read_text()
    assert not use_cpu_attention(torch.nn.Linear(2, 2))  # no transformers config: left as it is


def sdpa_calls(monkeypatch) -> list[torch.dtype]:
    """Record the dtype of every call ``cpu_attention`` passes on to transformers' SDPA function."""
    import ctxlearn.models.attention as attention
    calls: list[torch.dtype] = []

    def recording(module, query, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        calls.append(query.dtype)
        return sdpa_attention_forward(module, query, *args, **kwargs)

    monkeypatch.setattr(attention, "sdpa_attention_forward", recording)
    return calls


def test_bf16_training_without_dropout_keeps_sdpas_numbers_off_its_slow_backward(monkeypatch) -> None:
    calls = sdpa_calls(monkeypatch)
    ours_in = [t.bfloat16().requires_grad_() for t in qkv(4)]
    ref_in = [t.detach().clone().requires_grad_() for t in ours_in]
    ours, _ = cpu_attention(Module(), *ours_in, padding_mask(), dropout=0.0)
    assert calls == []  # torch's CPU SDPA backward in bf16 ran 3-4x slower than this path
    ref, _ = sdpa_attention_forward(Module(), *ref_in, padding_mask(), dropout=0.0)
    torch.testing.assert_close(ours, ref, atol=2e-2, rtol=2e-2)
    ours.float().square().sum().backward()
    ref.float().square().sum().backward()
    for mine, theirs in zip(ours_in, ref_in):
        torch.testing.assert_close(mine.grad, theirs.grad, atol=5e-2, rtol=5e-2)


def test_fp32_training_long_bf16_training_and_bf16_inference_without_dropout_go_to_sdpa(monkeypatch) -> None:
    calls = sdpa_calls(monkeypatch)
    cpu_attention(Module(), *[t.requires_grad_() for t in qkv(5)], padding_mask(), dropout=0.0)
    long = [torch.randn(1, 1, FUSED_FROM + 1, 4, dtype=torch.bfloat16, requires_grad=True) for _ in range(3)]
    cpu_attention(Module(), *long, None, dropout=0.0)
    with torch.no_grad():
        cpu_attention(Module(), *[t.bfloat16().requires_grad_() for t in qkv(6)], padding_mask(), dropout=0.0)
    assert calls == [torch.float32, torch.bfloat16, torch.bfloat16]
