"""Fixtures for the icl tests (import them into a test module): a tiny random-init Llama causal LM with
a word-level tokenizer, built in code (no downloads). Not a conftest.py: a second module of that name
would shadow tests/conftest.py, which other tests import by name."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import WORDS  # tests/conftest.py

VOCAB = ["[UNK]", "[PAD]", *WORDS, "negative", "positive", "Input", "Label", "Premise", "Hypothesis", "Review", "Sentiment", "Negative", "Positive", "very", "not", "so", ":", ".",
         "/", "[", "]", "MASK", "N", "A", "Question", "Answer", "Type"]


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide Llama (grouped-query attention, 64 positions) saved with its tokenizer."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    vocab = {w: i for i, w in enumerate(dict.fromkeys(VOCAB))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]").save_pretrained(folder)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=False)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def lm(tiny_lm: Path):
    """(model in eval mode, tokenizer) of the tiny Llama."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_lm).eval(), AutoTokenizer.from_pretrained(tiny_lm)
