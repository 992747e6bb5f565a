"""Tagging run folders are served too: words in, the run's own tags and entity spans out."""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serve_fixtures import AUTH, app_for

from ctxlearn.serve.engine import open_engine


@pytest.fixture
def tag_run(tiny_bert: Path, toy_conll: Path, tmp_path: Path, monkeypatch) -> Path:
    from ctxlearn.config import TrainConfig
    from ctxlearn.train.run import run_training

    monkeypatch.setenv("CTXLEARN_CACHE", str(tmp_path / "cache"))
    run_training(TrainConfig(data=str(toy_conll), model=str(tiny_bert), method="head", out=str(tmp_path / "run"),
                             bf16="off", threads=1))
    return tmp_path / "run"


def test_tagging_artifact_serves_words_to_tags_and_spans(tag_run: Path) -> None:
    from ctxlearn.data.example import TaggedSentence
    from ctxlearn.predict_tagging import TaggingPredictor

    engine = open_engine(tag_run)
    assert engine.accepts == "tokens"
    sentences = [["alice", "visited", "paris", "today"], ["bob"]]
    with TestClient(app_for(engine)) as client:
        got = client.post("/v1/predict", json={"tokens": sentences}, headers=AUTH)
        wrong = client.post("/v1/predict", json={"texts": ["alice visited paris"]}, headers=AUTH)
    assert got.status_code == 200, got.text
    preds = got.json()["predictions"]
    direct = TaggingPredictor(tag_run).predict([TaggedSentence(tuple(s), (), (0,) * len(s)) for s in sentences]).tags
    assert [p["tags"] for p in preds] == direct
    for words, p in zip(sentences, preds):
        assert len(p["tags"]) == len(words)
        joined = " ".join(words)
        assert all(joined[e["start"]:e["end"]] == e["text"] for e in p["entities"])
    assert wrong.status_code == 422 and "takes `tokens`" in wrong.json()["message"]
