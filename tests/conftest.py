"""Shared fixtures: a tiny random-init BERT built in code, toy data, and the shared data folder."""
from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path
from typing import Callable

# Read by huggingface_hub when it is first imported: tests never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WORDS = ["good", "great", "fine", "nice", "bad", "awful", "poor", "sad", "the", "a", "movie", "film", "was",
         "plot", "acting", "very", "really", "and", "but", "story"]
POSITIVE, NEGATIVE = WORDS[:4], WORDS[4:8]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CTXLEARN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def terminal_signals():
    """Ctrl-C, SIGTERM and SIGHUP handled as in a terminal, also where the tests run as a background job
    (which ignores SIGINT) or under nohup (which ignores SIGHUP); put back after the test."""
    wanted = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL, signal.SIGHUP: signal.SIG_DFL}
    before = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with random weights and a WordPiece tokenizer over a toy vocabulary."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s", "##ly", "."]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    model = BertModel(config, add_pooling_layer=False)
    # 128 positions, train's default --max-length (a longer one is refused): rows 64-127 are drawn after the
    # model, so every other weight, and what the tests built on this model expect of it, stays as it was
    table = model.embeddings.position_embeddings
    longer = torch.nn.Embedding(128, 32)
    with torch.no_grad():
        longer.weight[:64] = table.weight
        longer.weight[64:].normal_(0.0, config.initializer_range)
    model.embeddings.position_embeddings = longer
    model.embeddings.register_buffer("position_ids", torch.arange(128).expand((1, -1)), persistent=False)
    model.config.max_position_embeddings = 128
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def toy_sentence(rng: random.Random, label: str) -> str:
    cue = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
    filler = [rng.choice(WORDS[8:]) for _ in range(rng.randint(2, 8))]
    filler.insert(rng.randint(0, len(filler)), cue)
    return " ".join(filler)


def write_toy(folder: Path, n_train: int = 160, n_eval: int = 40, seed: int = 0, pairs: bool = False,
              sentence: Callable[[random.Random, str], str] = toy_sentence) -> Path:
    """train/dev/test JSON Lines where one cue word decides the label (``sentence`` writes each text)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("dev", n_eval), ("test", n_eval)):
        rows = []
        for i in range(n):
            label = "positive" if i % 2 else "negative"
            row = {"text": sentence(rng, label), "label": label}
            if pairs:
                row = {"premise": " ".join(rng.choice(WORDS[8:]) for _ in range(4)), "hypothesis": row["text"], "label": label}
            rows.append(json.dumps(row))
        (folder / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    return folder


def write_rare_toy(folder: Path) -> Path:
    """Toy data whose dev and test hold 12 positive texts among 52: a rare class, with enough of it on dev to
    tune a threshold on (``evaluate.decision``)."""
    data = write_toy(folder, n_eval=80)
    for split in ("dev", "test"):
        lines = (data / f"{split}.jsonl").read_text().splitlines()
        kept = [line for line in lines if '"negative"' in line] + [line for line in lines if '"positive"' in line][:12]
        (data / f"{split}.jsonl").write_text("\n".join(kept) + "\n")
    return data


def write_parquet(path: Path, columns: dict[str, list], metadata: dict | None = None) -> Path:
    """A Parquet file of ``columns`` (skips the test without pyarrow), or an Arrow IPC stream for a .arrow
    path (as ``datasets``' save_to_disk writes); ``metadata`` goes under the "huggingface" key, where
    ``datasets`` keeps its features (ClassLabel names)."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(columns)
    if metadata is not None:
        table = table.replace_schema_metadata({"huggingface": json.dumps(metadata)})
    if path.suffix == ".arrow":
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        pq.write_table(table, path)
    return path


@pytest.fixture
def toy_data(tmp_path) -> Path:
    return write_toy(tmp_path / "toy")


@pytest.fixture(scope="session")
def tiny_run(tiny_bert, tmp_path_factory) -> Path:
    """A `head` run folder of the tiny BERT on toy data, trained once per session; treat it as read-only."""
    from ctxlearn.config import TrainConfig
    from ctxlearn.train.run import run_training

    root = tmp_path_factory.mktemp("tiny-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CTXLEARN_CACHE", str(root / "cache"))
        run_training(TrainConfig(data=str(write_toy(root / "toy")), model=str(tiny_bert), method="head",
                                 out=str(root / "run"), bf16="off"))
    return root / "run"


@pytest.fixture(scope="session")
def tiny_engine(tiny_run: Path):
    """The tiny run as a serving engine (serving helpers are in tests/unit/serve/serve_fixtures.py). It
    lives here, not in a second conftest.py: tests import helpers with `from conftest import ...`, and
    two modules named conftest would shadow each other when the whole suite is collected."""
    from ctxlearn.serve.engine import open_engine

    return open_engine(tiny_run)


def shared_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def toy_tagged_sentence(rng: random.Random) -> list[tuple[str, str]]:
    """Filler words and entities whose tags each word alone decides, so that every method learns them
    in seconds: POS "good", "great", "fine" or "really nice"; NEG "bad", "awful", "poor" or "very sad"."""
    entities = {"POS": [["good"], ["great"], ["fine"], ["really", "nice"]],
                "NEG": [["bad"], ["awful"], ["poor"], ["very", "sad"]]}
    filler = [w for w in WORDS[8:] if w not in ("very", "really")]
    out: list[tuple[str, str]] = []
    for _ in range(rng.randint(3, 9)):
        if rng.random() < 0.3:
            kind = rng.choice(["POS", "NEG"])
            words = rng.choice(entities[kind])
            out += [(w, f"{'I' if i else 'B'}-{kind}") for i, w in enumerate(words)]
        else:
            out.append((rng.choice(filler), "O"))
    return out


def write_toy_conll(folder: Path, n_train: int = 160, n_eval: int = 40, seed: int = 0) -> Path:
    """train/dev/test CoNLL files (token<TAB>tag, BIO) of ``toy_tagged_sentence``s."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("dev", n_eval), ("test", n_eval)):
        sents = [toy_tagged_sentence(rng) for _ in range(n)]
        (folder / f"{split}.conll").write_text("\n".join("".join(f"{w}\t{t}\n" for w, t in s) for s in sents))
    return folder


@pytest.fixture
def toy_conll(tmp_path) -> Path:
    return write_toy_conll(tmp_path / "toy-tags")
