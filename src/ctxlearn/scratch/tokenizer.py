"""Tokenizers trained on a corpus with the ``tokenizers`` library, saved as transformers fast tokenizers.

  wordpiece  BERT's recipe, for encoders: lower-cased, split at whitespace and punctuation, ``[CLS] a
             [SEP] (b [SEP])`` templates with token types, and [PAD] [UNK] [CLS] [SEP] [MASK].
  bpe        GPT-2's byte-level BPE, for decoders: any text encodes without unknown tokens;
             ``<|endoftext|>`` separates documents and ``<pad>`` pads batches.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from ctxlearn.errors import ConfigError
from ctxlearn.registry import Registry

Trainer = Callable[[Iterable[str], int, int], PreTrainedTokenizerFast]
TOKENIZERS: Registry[Trainer] = Registry("tokenizer kind")
KIND_FOR_ARCH = {"encoder": "wordpiece", "decoder": "bpe", "encoder-decoder": "bpe"}


@TOKENIZERS.register("wordpiece")
def wordpiece(texts: Iterable[str], vocab_size: int, min_frequency: int) -> PreTrainedTokenizerFast:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                                             special_tokens=specials, show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]",
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])


@TOKENIZERS.register("bpe")
def byte_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                                       special_tokens=["<|endoftext|>", "<pad>"], show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<pad>", model_input_names=["input_ids", "attention_mask"])


MIN_BPE_VOCAB = 300  # the 258 starting tokens and room for some merges


def train_tokenizer(texts: Iterable[str], kind: str = "bpe", vocab_size: int = 8000,
                    min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """A ``kind`` tokenizer (wordpiece or bpe) with at most ``vocab_size`` tokens learned from ``texts``."""
    check_vocab_size(kind, vocab_size)
    check_min_frequency(min_frequency)
    return TOKENIZERS.get(kind)(texts, vocab_size, min_frequency)


def check_vocab_size(kind: str, vocab_size: int) -> None:
    """Refuse a ``kind`` vocabulary too small to train, before a corpus is read for it."""
    if vocab_size < MIN_BPE_VOCAB and kind == "bpe":
        raise ConfigError(f"--vocab-size {vocab_size} is too small: byte-level BPE starts from 256 bytes + 2 specials; "
                          f"use --vocab-size {MIN_BPE_VOCAB} or more (8000 is the default)", field="vocab_size")


def check_min_frequency(min_frequency: int) -> None:
    """Refuse a negative count (an OverflowError from the tokenizers library), before a corpus is read."""
    if min_frequency < 0:
        raise ConfigError(f"--min-frequency must be >= 0 (times a piece is seen before it is merged; 2 is the "
                          f"default), not {min_frequency}", field="min_frequency")


def load_tokenizer(folder: str | Path) -> PreTrainedTokenizerFast:
    path = Path(folder)
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise ConfigError(f"{path}: no tokenizer here (tokenizer.json); make one with `ctxlearn tokenizer train`")
    return AutoTokenizer.from_pretrained(path)
