"""Our models compute their own mean loss and take no ``num_items_in_batch``: the Trainer must know,
or under several processes it multiplies the loss by the world size (``average_tokens_across_devices``)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel, Trainer, TrainingArguments

from ctxlearn.methods import METHODS
from ctxlearn.models.classifier import EncoderClassifier
from ctxlearn.models.tagger import EncoderTagger


def _backbone() -> BertModel:
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                intermediate_size=64, max_position_embeddings=64), add_pooling_layer=False)


@pytest.mark.parametrize("make", [lambda b: EncoderClassifier(b, 2), lambda b: EncoderTagger(b, 3)],
                         ids=["classifier", "tagger"])
@pytest.mark.parametrize("method", ["full", "lora"])
def test_the_trainer_passes_no_loss_kwargs(make, method: str, tmp_path: Path) -> None:
    spec = METHODS.get(method)
    model = spec.prepare(make(_backbone()), spec.options())
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    assert Trainer(model=model, args=args).model_accepts_loss_kwargs is False
