"""Tiny scratch configs and a toy corpus for the from-scratch tests."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from ctxlearn.scratch.model import ScratchConfig
from ctxlearn.scratch.pretrain import PretrainConfig

POSITIONS = ("sinusoidal", "learned", "relative", "rope", "alibi")
SUBJECTS = ["the cat", "a dog", "my friend", "the old man", "her sister", "a bird"]
VERBS = ["sees", "likes", "finds", "follows", "hears", "calls"]
OBJECTS = ["the ball", "a house", "the river", "some bread", "the moon", "a letter"]


def tiny(arch: str = "decoder", positions: str = "rope", **kw) -> ScratchConfig:
    """A 2-layer, 32-wide scratch config; dropout off unless asked, so outputs are deterministic."""
    base = dict(arch=arch, vocab_size=61, d_model=32, n_layer=2, n_head=4, max_len=64, positions=positions,
                dropout=0.0, attn_dropout=0.0, type_vocab_size=2 if arch == "encoder" else 0, pad_token_id=0,
                decoder_start_token_id=1, relative_buckets=8, relative_max_distance=16)
    return ScratchConfig(**{**base, **kw})


def tiny_cfg(corpus, out, **kw) -> PretrainConfig:
    """ctxlearn pretrain settings for a 1-layer, 32-wide model that trains in about a second."""
    base = dict(corpus=[str(corpus)], out=str(out), layers=1, d_model=32, heads=2, seq_len=16, batch_size=8,
                val_tokens=1024, lr=3e-3, vocab_size=300, steps=12, save_every=4, eval_every=100, bf16="off")
    return PretrainConfig(**{**base, **kw})


def write_corpus(path: Path, n: int = 600, seed: int = 0) -> Path:
    """Sentences from a tiny grammar: easy to learn, so a few steps visibly lower the loss."""
    rng = random.Random(seed)
    lines = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} ." for _ in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus.txt")
