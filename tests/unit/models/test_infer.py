"""Batched inference: results in input order, and progress lines only inside ``progress`` on large passes."""
from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer

from ctxlearn.models import infer
from ctxlearn.train.encode import Encoded


def _rows(tokenizer, n: int) -> Encoded:
    words = ["good", "bad", "film", "plot"]
    texts = [" ".join(words[: 1 + i % 4] * (1 + i % 3)) for i in range(n)]
    enc = tokenizer(texts)
    return Encoded([{k: enc[k][i] for k in enc} for i in range(n)])


def _lengths(batch):  # (B, 1): each row's own length, so order can be checked
    return batch["attention_mask"].sum(1, keepdim=True)


def test_outputs_come_back_in_input_order(tiny_bert: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    data = _rows(tok, 10)
    out = infer.map_batches(_lengths, data, tok, batch_size=3)
    assert out[:, 0].tolist() == [len(r["input_ids"]) for r in data.rows]


def test_progress_lines_only_inside_progress_and_for_large_passes(tiny_bert: Path, capsys, monkeypatch) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    data = _rows(tok, 12)
    monkeypatch.setattr(infer, "PROGRESS_FROM", 10)
    monkeypatch.setattr(infer.Progress, "EVERY_S", 0.0)  # a line after every batch
    infer.map_batches(_lengths, data, tok, batch_size=4)
    assert capsys.readouterr().err == ""  # no label: silent
    with infer.progress("train features"):
        infer.map_batches(_lengths, data, tok, batch_size=4)
        infer.map_batches(_lengths, Encoded(data.rows[:9]), tok, batch_size=4)  # below PROGRESS_FROM: silent
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == [f"[ctxlearn] train features: {n}/12 rows" for n in (4, 8, 12)]
    assert all("so far, ETA" in line for line in lines)
    infer.map_batches(_lengths, data, tok, batch_size=4)
    assert capsys.readouterr().err == ""  # the label ends with its block


def test_eta_goes_by_tokens_not_rows(monkeypatch, capsys) -> None:
    clock = iter([0.0, 10.0])
    monkeypatch.setattr(infer.time, "time", lambda: next(clock))
    data = Encoded([{"input_ids": [0] * n, "attention_mask": [1] * n} for n in (2, 2, 12)])
    report = infer.Progress("x", data)
    report.done([0, 1])  # two thirds of the rows in 10 s, but a quarter of the tokens: 30 s to go, not 5
    assert capsys.readouterr().err == "[ctxlearn] x: 2/3 rows, 10 s so far, ETA 30 s\n"
