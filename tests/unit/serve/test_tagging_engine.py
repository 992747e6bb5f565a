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
    sentences = [["alice", "visited", "paris", "today"], ["bob", "\u200b", "smith"]]  # an invisible word is a word
    with TestClient(app_for(engine)) as client:
        got = client.post("/v1/predict", json={"tokens": sentences}, headers=AUTH)
        wrong = client.post("/v1/predict", json={"pairs": [{"text": "alice", "text_pair": "paris"}]}, headers=AUTH)
    assert got.status_code == 200, got.text
    preds = got.json()["predictions"]
    direct = TaggingPredictor(tag_run).predict([TaggedSentence(tuple(s), (), (0,) * len(s)) for s in sentences]).tags
    assert [p["tags"] for p in preds] == direct
    for words, p in zip(sentences, preds):
        assert len(p["tags"]) == len(words)
        joined = " ".join(words)
        assert all(joined[e["start"]:e["end"]] == e["text"] for e in p["entities"])
    assert [p["tokens"] for p in preds] == sentences
    assert wrong.status_code == 422 and "takes `tokens` or `texts`" in wrong.json()["message"]


def test_a_malformed_request_to_a_tagger_is_shown_both_requests_it_takes(tag_run: Path) -> None:
    """`{"texts": "one string"}` was shown only the `tokens` request, though the service takes `texts` too."""
    with TestClient(app_for(open_engine(tag_run))) as client:
        r = client.post("/v1/predict", json={"texts": "alice visited paris"}, headers=AUTH)
    assert r.status_code == 422 and "texts: Input should be a valid list" in r.json()["message"]
    assert r.json()["message"].endswith('Expected e.g. {"tokens": [["words", "of", "a", "sentence"], ...]} '
                                        'or {"texts": ["a text", ...]}')


def test_tagging_artifact_serves_raw_texts_split_as_predict_splits_them(tag_run: Path) -> None:
    """An NER client holds text, not words: `texts` are split as `predict` splits a .txt line, and the
    entity offsets point into the text as sent. A batch may mix both kinds of request."""
    from ctxlearn.predict_tagging import TaggingPredictor, sentence_of

    engine = open_engine(tag_run)
    texts = ["alice  visited paris, today", "bob!"]
    with TestClient(app_for(engine)) as client:
        got = client.post("/v1/predict", json={"texts": texts}, headers=AUTH)
    assert got.status_code == 200, got.text
    preds = got.json()["predictions"]
    sentences = [sentence_of(t) for t in texts]
    assert [p["tokens"] for p in preds] == [list(s.tokens) for s in sentences]
    assert [p["tags"] for p in preds] == TaggingPredictor(tag_run).predict(sentences).tags
    mixed = engine.run(["alice visited paris", ["alice", "visited", "paris"]])
    assert mixed[0]["tags"] == mixed[1]["tags"] and mixed[0]["tokens"] == mixed[1]["tokens"]



def test_entity_offsets_of_a_served_text_point_into_the_text_as_sent(tag_run: Path, monkeypatch) -> None:
    from types import SimpleNamespace

    engine = open_engine(tag_run)
    tags = [["B-PER", "O", "B-LOC", "O", "O"], ["B-PER", "O"]]
    monkeypatch.setattr(engine.predictor, "predict", lambda sentences: SimpleNamespace(tags=tags))
    texts = ["alice  visited paris, today", "bob!"]
    out = engine.run(texts)
    assert [(e["text"], e["start"], e["end"]) for e in out[0]["entities"]] == [("alice", 0, 5), ("paris", 15, 20)]
    assert [(e["text"], e["start"], e["end"]) for e in out[1]["entities"]] == [("bob", 0, 3)]


def test_a_tagger_refuses_a_threshold_saying_how_it_labels_words(tag_run: Path) -> None:
    from ctxlearn.errors import ConfigError

    with pytest.raises(ConfigError, match="--threshold is for runs that label whole texts; a tagging run gives each "
                                          "word its most probable tag"):
        open_engine(tag_run, "B-PER=0.3")
