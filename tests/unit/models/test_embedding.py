"""The kept-gradient embedding: the same dense gradient as ``nn.Embedding`` (padding row at zero),
step after step and under accumulation, without zero-filling the table each step."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertModel

from ctxlearn.models.embedding import KeptGradEmbedding, clip_grad_norm, keep_embedding_grad


def tables(seed: int = 0) -> tuple[nn.Embedding, nn.Embedding]:
    """A plain table and a kept-gradient copy of it (10 rows, row 0 the padding row)."""
    torch.manual_seed(seed)
    plain = nn.Embedding(10, 4, padding_idx=0)
    kept = copy.deepcopy(plain)
    kept.__class__ = KeptGradEmbedding
    return plain, kept


def backward(table: nn.Embedding, ids: torch.Tensor, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    (table(ids) * torch.randn(*ids.shape, 4, generator=g)).sum().backward()


def test_each_step_gives_the_plain_gradient_and_clears_the_last_steps_rows() -> None:
    plain, kept = tables()
    steps = [torch.tensor([[1, 2, 2, 0], [3, 0, 0, 0]]), torch.tensor([[5, 6, 5, 7]])]  # repeats and padding
    for seed, ids in enumerate(steps):
        plain.zero_grad(set_to_none=True)
        kept.zero_grad(set_to_none=True)
        backward(plain, ids, seed)
        backward(kept, ids, seed)
        torch.testing.assert_close(kept.weight.grad, plain.weight.grad, rtol=0, atol=1e-6)
    assert kept.weight.grad[[1, 2, 3]].abs().sum() == 0  # the first step's rows were cleared
    assert kept.weight.grad[0].abs().sum() == 0  # the padding row gets no gradient
    assert kept.weight.grad is kept._buffer  # one buffer, kept between steps


def test_gradients_accumulate_over_backward_calls_within_a_step() -> None:
    plain, kept = tables(1)
    for table in (plain, kept):
        backward(table, torch.tensor([[1, 4]]), 0)
        backward(table, torch.tensor([[4, 9]]), 1)
    torch.testing.assert_close(kept.weight.grad, plain.weight.grad, rtol=0, atol=1e-6)


def test_a_gradient_set_by_someone_else_is_added_into() -> None:
    plain, kept = tables(2)
    start = torch.ones(10, 4)
    plain.weight.grad, kept.weight.grad = start.clone(), start.clone()
    backward(plain, torch.tensor([[2, 3]]), 0)
    backward(kept, torch.tensor([[2, 3]]), 0)
    torch.testing.assert_close(kept.weight.grad, plain.weight.grad)
    assert kept._buffer is None


def test_evaluation_and_a_frozen_table_take_the_plain_path() -> None:
    _, kept = tables(3)
    kept.eval()
    backward(kept, torch.tensor([[1]]), 0)
    kept.train()
    kept.weight.requires_grad_(False)
    with torch.no_grad():
        kept(torch.tensor([[1]]))
    assert kept._buffer is None


def test_a_training_step_matches_the_plain_backbone_and_saves_the_same_weights(tmp_path) -> None:
    cfg = BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    plain = BertModel(cfg, add_pooling_layer=False)
    kept = copy.deepcopy(plain)
    assert keep_embedding_grad(kept) and type(kept.get_input_embeddings()) is KeptGradEmbedding
    ids = torch.tensor([[2, 7, 7, 9, 0, 0], [5, 3, 2, 8, 11, 4]])
    mask = (ids != 0).long()
    for model in (plain, kept):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for _ in range(3):
            model(input_ids=ids, attention_mask=mask).last_hidden_state.square().mean().backward()
            opt.step()
            model.zero_grad(set_to_none=True)
    for (name, a), (_, b) in zip(plain.named_parameters(), kept.named_parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)
    kept.save_pretrained(tmp_path)
    reloaded = BertModel.from_pretrained(tmp_path)
    assert type(reloaded.get_input_embeddings()) is nn.Embedding
    torch.testing.assert_close(reloaded.get_input_embeddings().weight, kept.get_input_embeddings().weight)


def test_only_a_plain_embedding_table_is_swapped() -> None:
    class Custom(nn.Embedding):
        pass

    class Holder(nn.Module):
        def __init__(self, table: nn.Module) -> None:
            super().__init__()
            self.table = table

        def get_input_embeddings(self) -> nn.Module:
            return self.table

    assert not keep_embedding_grad(Holder(Custom(5, 2)))
    tied = Holder(nn.Embedding(5, 2))
    tied.lm_head = nn.Linear(2, 5, bias=False)
    tied.lm_head.weight = tied.table.weight  # an LM head sharing the table: its gradient arrives through autograd
    assert not keep_embedding_grad(tied)
    assert not keep_embedding_grad(nn.Linear(2, 2))
    assert keep_embedding_grad(Holder(nn.Embedding(5, 2)))


def bert_pair(seed: int = 0) -> tuple[BertModel, BertModel]:
    """A tiny BERT and a copy of it whose word table keeps its gradient buffer."""
    cfg = BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(seed)
    plain = BertModel(cfg, add_pooling_layer=False)
    kept = copy.deepcopy(plain)
    keep_embedding_grad(kept)
    return plain, kept


@pytest.mark.parametrize("max_norm", [1e-3, 1e3])  # clipped, and left as it is
def test_clipping_reads_the_written_rows_and_matches_torchs_clipping(max_norm: float) -> None:
    plain, kept = bert_pair()
    ids = torch.tensor([[2, 7, 7, 9, 0, 0], [5, 3, 2, 8, 11, 4]])
    for step, model in enumerate((plain, kept) * 2):  # two steps each: the second clears the first's rows
        model.zero_grad(set_to_none=True)
        model(input_ids=ids + step // 2, attention_mask=(ids != 0).long()).last_hidden_state.pow(3).mean().backward()
        total = (torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm) if model is plain
                 else clip_grad_norm(model, max_norm))
        if model is kept:
            torch.testing.assert_close(total, expected, rtol=1e-6, atol=0)
            for (name, a), (_, b) in zip(plain.named_parameters(), kept.named_parameters()):
                torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-9, msg=name)
        expected = total
    table = kept.get_input_embeddings().weight.grad
    assert table is kept.get_input_embeddings()._buffer
    assert table[[0, 2]].abs().sum() == 0 and table[3].abs().sum() > 0  # 0 unused, 2 the first step's; 3 written


def test_clipping_leaves_models_without_a_kept_table_to_torch() -> None:
    plain, kept = bert_pair(1)
    ids = torch.tensor([[2, 7, 9]])
    assert clip_grad_norm(kept, 1.0) is None  # no step yet: no gradient to clip
    kept.get_input_embeddings().weight.requires_grad_(False)  # a frozen table takes the plain path
    kept(input_ids=ids).last_hidden_state.sum().backward()
    assert clip_grad_norm(kept, 1.0) is None
    plain(input_ids=ids).last_hidden_state.sum().backward()
    assert clip_grad_norm(plain, 1.0) is None
