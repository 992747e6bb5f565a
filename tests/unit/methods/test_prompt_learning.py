"""Prefix and prompt tuning: our forward (which keeps segment ids) matches peft's own where both
apply, and padding does not leak into the real tokens' states."""
from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertModel

from ctxlearn.methods import METHODS
from ctxlearn.models.classifier import EncoderClassifier, prompted_hidden


def tiny_classifier(method: str) -> EncoderClassifier:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    m = METHODS.get(method)
    return m.prepare(EncoderClassifier(BertModel(config, add_pooling_layer=False), 2), m.options()).eval()


@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_matches_peft_forward(method: str) -> None:
    model = tiny_classifier(method)
    ids = torch.randint(5, 40, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    n_virtual = model.backbone.active_peft_config.num_virtual_tokens
    with torch.no_grad():
        ours = prompted_hidden(model.backbone, ids, mask)
        theirs = model.backbone(input_ids=ids, attention_mask=mask).last_hidden_state
    assert ours.shape == (3, 9, 32)
    torch.testing.assert_close(ours, theirs[:, theirs.shape[1] - 9:])  # prompt tuning: peft keeps the P virtual outputs
    assert theirs.shape[1] == 9 + (n_virtual if method == "prompt" else 0)


@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_padding_does_not_leak(method: str) -> None:
    model = tiny_classifier(method)
    ids = torch.randint(5, 40, (2, 8))
    types = torch.zeros_like(ids)
    types[:, 4:] = 1
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        padded = prompted_hidden(model.backbone, ids, mask, types)[1, :6]
        alone = prompted_hidden(model.backbone, ids[1:, :6], mask[1:, :6], types[1:, :6])[0]
        features = model.features(ids, mask, types)
    torch.testing.assert_close(padded, alone)
    assert features.shape == (2, 32)


@pytest.mark.parametrize("projection", [0, 16])
def test_the_prefix_is_computed_in_fp32_as_peft_saves_it(projection: int) -> None:
    """peft saves the prefix its MLP gives in fp32, and a reloaded run reads that: computed under bf16 autocast
    while training and scoring, a --prefix-projection run's test predictions differed from its reload's."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    model = METHODS.get("prefix").prepare(EncoderClassifier(BertModel(config, add_pooling_layer=False), 2),
                                          METHODS.get("prefix").options(projection=projection)).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        used = model.backbone.get_prompt(batch_size=3)
    saved = model.backbone.get_prompt_embedding_to_save("default")
    first_layer_keys = used[0][0] if isinstance(used, tuple) else used.layers[0].keys  # (batch, heads, P, head size)
    assert first_layer_keys.dtype == torch.float32
    for row in first_layer_keys:
        torch.testing.assert_close(row.transpose(0, 1).flatten(1), saved[:, :32], atol=0, rtol=0)


def test_prefix_passes_its_keys_under_the_name_transformers_takes() -> None:
    """transformers 5.x renamed `past_key_values` to `cache`; the old name warned on every forward,
    several times a run, of a removal no user could act on."""
    import warnings

    model = tiny_classifier("prefix")
    ids = torch.randint(5, 40, (2, 6))
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        prompted_hidden(model.backbone, ids, torch.ones_like(ids))
    assert not [w for w in caught if "past_key_values" in str(w.message)]
