"""The service in-process (TestClient, lifespan included): every bad request is a 4xx with a message that
says what is wrong, never a 5xx; good requests get the artifact's own predictions."""
from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serve_fixtures import AUTH, KEY, FakeEngine, app_for

from ctxlearn.data.example import Example
from ctxlearn.serve.app import LimitBody, Observe, describe_validation
from ctxlearn.serve.metrics import Metrics

LIMITS = {"max_texts": 4, "max_chars": 50}
TOO_BIG = str(2 * 6 * 4 * 50 + 65536 + 1)  # one byte over ServeConfig.max_body_bytes at LIMITS

# (case, request keyword arguments, status, error kind, words the message must contain)
BAD = [
    ("no key", {"json": {"texts": ["a"]}, "headers": {}}, 401, "unauthorized", "Bearer"),
    ("wrong key", {"json": {"texts": ["a"]}, "headers": {"Authorization": "Bearer " + "x" * len(KEY)}}, 401, "unauthorized", "Bearer"),
    ("basic auth", {"json": {"texts": ["a"]}, "headers": {"Authorization": f"Basic {KEY}"}}, 401, "unauthorized", "Bearer"),
    ("malformed json", {"content": b'{"texts": ["a",'}, 422, "invalid", "not valid JSON"),
    ("json not an object", {"json": ["a"]}, 422, "invalid", "body"),
    ("no body", {}, 422, "invalid", "body"),
    ("no input", {"json": {}}, 422, "invalid", "exactly one of texts, pairs, tokens"),
    ("two inputs", {"json": {"texts": ["a"], "tokens": [["a"]]}}, 422, "invalid", "got texts, tokens"),
    ("empty list", {"json": {"texts": []}}, 422, "invalid", "texts: List should have at least 1 item"),
    ("empty text", {"json": {"texts": ["fine", ""]}}, 422, "invalid", "texts.1"),
    # predict refuses a row of blanks as an empty text; served, "  \n" was labelled with confidence
    ("text of blanks", {"json": {"texts": ["fine", " \n\t"]}}, 422, "invalid", "texts.1: text is only blanks"),
    ("pair side of blanks", {"json": {"pairs": [{"text": "a", "text_pair": "  "}]}}, 422, "invalid", "only blanks"),
    ("token of blanks", {"json": {"tokens": [["Paris", " "]]}}, 422, "invalid", "tokens.0.1: text is only blanks"),
    # a zero-width space is read as nothing too: served, it was labelled as an empty text would be
    ("text of a zero-width space", {"json": {"texts": ["fine", "\u200b\ufeff "]}}, 422, "invalid",
     "texts.1: text is only blanks (spaces, tabs, line breaks) or invisible characters"),
    ("pair side of a word joiner", {"json": {"pairs": [{"text": "\u2060", "text_pair": "a"}]}}, 422, "invalid",
     "pairs.0.text: text is only blanks"),
    ("string not list", {"json": {"texts": "a film"}}, 422, "invalid", "texts: Input should be a valid list"),
    ("number in texts", {"json": {"texts": [3]}}, 422, "invalid", "texts.0: Input should be a valid string"),
    ("null texts", {"json": {"texts": None}}, 422, "invalid", "exactly one of"),
    ("unknown field", {"json": {"texts": ["a"], "file": "/etc/passwd"}}, 422, "invalid", "file: Extra inputs"),
    ("lone surrogate", {"content": rb'{"texts": ["\ud800"]}'}, 422, "invalid", "texts.0"),
    ("deep nesting", {"content": b"[" * 50000}, 400, "bad_request", "error parsing the body"),
    # Latin-1 bytes: FastAPI's 400 "There was an error parsing the body" named neither the cause nor the fix
    ("body not UTF-8", {"content": b'{"texts": ["caf\xe9 Paris"]}'}, 422, "invalid",
     "the body is not UTF-8 (byte 0xe9 at byte 15): send the JSON encoded as UTF-8"),
    ("form encoded, as curl -d sends", {"content": b'{"texts": ["a"]}', "headers": {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}},
     422, "invalid", "Content-Type: application/json"),
    ("pairs to a text model", {"json": {"pairs": [{"text": "a", "text_pair": "b"}]}}, 422, "invalid", "takes `texts`"),
    ("tokens to a classifier", {"json": {"tokens": [["a", "b"]]}}, 422, "invalid", "takes `texts`"),
    ("too many texts", {"json": {"texts": ["a"] * 5}}, 413, "too_large", "limit of 4 per request (--max-texts)"),
    # not "the model reads at most its max_length tokens": a tagger (and a windowed classifier) reads it all
    ("text too long", {"json": {"texts": ["a", "b" * 51]}}, 413, "too_large",
     "texts.1: 51 characters, more than the limit of 50 (--max-chars); shorten it, or start the server with a larger"),
    ("body too large", {"content": b"{}", "headers": {**AUTH, "Content-Length": TOO_BIG}}, 413, "too_large", "larger than"),
    ("bad content length", {"content": b"{}", "headers": {**AUTH, "Content-Length": "ten"}}, 400, "bad_request", "Content-Length"),
]


@pytest.fixture(scope="module")
def client(tiny_engine):
    with TestClient(app_for(tiny_engine, **LIMITS), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("case, kwargs, status, kind, words", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_4xx_with_a_message(client, case, kwargs, status, kind, words) -> None:
    kwargs = {"headers": {**AUTH, "Content-Type": "application/json"}, **kwargs}
    r = client.post("/v1/predict", **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"] == kind and words in r.json()["message"], r.json()
    if status == 401:
        assert r.headers["WWW-Authenticate"] == "Bearer"


def test_routing_errors_name_the_api(client) -> None:
    assert client.get("/nope").json() == {"error": "not_found",
                                          "message": "no such path /nope; the API is POST /v1/predict (see /docs)"}
    r = client.get("/v1/predict", headers=AUTH)
    assert r.status_code == 405 and "GET is not allowed" in r.json()["message"]


def test_predictions_are_the_artifacts(client, tiny_engine) -> None:
    texts = ["good great movie", "awful sad plot", "the film was fine", "bad"]
    r = client.post("/v1/predict", json={"texts": texts}, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "run" and len(body["predictions"]) == 4
    expected = tiny_engine.predictor.predict_proba([Example(t, "") for t in texts])
    got = np.array([[p["probabilities"][lab] for lab in tiny_engine.labels] for p in body["predictions"]])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [p["label"] for p in body["predictions"]] == [tiny_engine.labels[i] for i in expected.argmax(1)]


def test_health_ready_metrics_and_schema(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    assert "threshold" not in client.get("/readyz").json()  # the most probable class: nothing to say
    assert client.get("/metrics").status_code == 401, "metrics are behind the key too"
    client.post("/v1/predict", json={"texts": ["good"]}, headers=AUTH)
    client.post("/v1/predict", json={"texts": []}, headers=AUTH)
    text = client.get("/metrics", headers=AUTH).text
    for series in ("ctxlearn_request_seconds_bucket", "ctxlearn_batch_size_bucket", "ctxlearn_queue_depth",
                   'ctxlearn_errors_total{kind="invalid"}', 'ctxlearn_requests_total{status="200"}'):
        assert series in text
    schema = client.get("/openapi.json").json()
    assert {"/v1/predict", "/healthz", "/readyz", "/metrics"} <= set(schema["paths"])
    assert {"401", "413", "422", "429"} <= set(schema["paths"]["/v1/predict"]["post"]["responses"])
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_without_a_key_no_auth_is_asked(tiny_engine) -> None:
    with TestClient(app_for(tiny_engine, key=None)) as c:
        assert c.post("/v1/predict", json={"texts": ["good"]}).status_code == 200
        assert "securitySchemes" not in c.get("/openapi.json").json().get("components", {})


def test_pair_models_take_pairs() -> None:
    with TestClient(app_for(FakeEngine(accepts="pairs"))) as c:
        r = c.post("/v1/predict", json={"pairs": [{"text": "a", "text_pair": "b" * 9}]}, headers=AUTH)
        assert r.status_code == 200 and r.json()["predictions"][0]["label"] == "long"
        r = c.post("/v1/predict", json={"texts": ["a"]}, headers=AUTH)
        assert r.status_code == 422 and "takes `pairs`" in r.json()["message"]
        assert '{"pairs": [{"text": "a premise", "text_pair": "a hypothesis"}' in r.json()["message"]


def test_a_pair_model_shows_the_pair_shape_when_the_fields_are_wrong() -> None:
    """A client that sends the data's own field names (premise, hypothesis) is shown the pair request,
    not the single-text one."""
    with TestClient(app_for(FakeEngine(accepts="pairs"))) as c:
        r = c.post("/v1/predict", json={"pairs": [{"premise": "a", "hypothesis": "b"}]}, headers=AUTH)
    message = r.json()["message"]
    assert r.status_code == 422 and "pairs.0.text: Field required" in message
    assert message.endswith('Expected e.g. {"pairs": [{"text": "a premise", "text_pair": "a hypothesis"}, ...]}')


def test_a_run_trained_on_premise_hypothesis_files_serves_pairs(tiny_bert: Path, tmp_path: Path) -> None:
    """Pairs found without flags (premise/hypothesis fields) are recorded, so the service asks for pairs."""
    from conftest import write_toy

    from ctxlearn.config import TrainConfig
    from ctxlearn.serve.engine import open_engine
    from ctxlearn.train.run import run_training

    out = tmp_path / "nli"
    run_training(TrainConfig(data=str(write_toy(tmp_path / "pairs", pairs=True)), model=str(tiny_bert), method="head",
                             out=str(out), bf16="off"))
    engine = open_engine(out)
    assert engine.accepts == "pairs"
    with TestClient(app_for(engine)) as c:
        r = c.post("/v1/predict", json={"pairs": [{"text": "a good film", "text_pair": "good"}]}, headers=AUTH)
        assert r.status_code == 200 and r.json()["predictions"][0]["label"] in {"negative", "positive"}
        assert c.post("/v1/predict", json={"texts": ["a good film"]}, headers=AUTH).status_code == 422


@pytest.mark.parametrize("log_texts", [False, True])
def test_logs_hold_texts_only_when_asked(tiny_engine, caplog, log_texts) -> None:
    secret = "good film with the secret plot"
    caplog.set_level(logging.DEBUG)
    with TestClient(app_for(tiny_engine, log_texts=log_texts)) as c:
        assert c.post("/v1/predict", json={"texts": [secret]}, headers=AUTH).status_code == 200
        c.post("/v1/predict", json={"texts": [secret, 1]}, headers=AUTH)
    assert (secret in caplog.text) == log_texts


class QuotingEngine(FakeEngine):
    """Fails as a tokenizer might, with the input in the message."""

    def run(self, items: list) -> list:
        if any("secret" in it for it in items):
            raise ValueError(f"cannot handle {items}")
        return super().run(items)


@pytest.mark.parametrize("log_texts", [False, True])
def test_a_failing_model_gets_a_500_whose_message_stays_out_of_the_log(caplog, log_texts) -> None:
    """The error is answered in the route: left to Starlette, it is re-raised after the handler, and
    uvicorn logs it again with its message (the input) whatever --log-texts says."""
    secret = "my secret text"
    caplog.set_level(logging.DEBUG)
    with TestClient(app_for(QuotingEngine(), log_texts=log_texts)) as c:  # re-raised errors would fail here
        r = c.post("/v1/predict", json={"texts": [secret]}, headers=AUTH)
    assert r.status_code == 500 and r.json()["error"] == "internal" and secret not in r.text
    assert caplog.text.count("internal error ValueError") == 1 and (secret in caplog.text) == log_texts


def test_paths_in_requests_are_never_opened(tiny_engine, tmp_path: Path) -> None:
    target = tmp_path / "secret.txt"
    target.write_text("good good good")
    opened: list[str] = []
    watching = True

    def hook(event: str, args: tuple) -> None:
        if watching and event == "open" and isinstance(args[0], (str, Path)):
            opened.append(str(args[0]))

    sys.addaudithook(hook)  # audit hooks cannot be removed; `watching` turns this one off
    try:
        with TestClient(app_for(tiny_engine)) as c:
            r = c.post("/v1/predict", json={"texts": [str(target), f"file://{target}", "../" * 8 + "etc/passwd"]}, headers=AUTH)
            assert r.status_code == 200
        target.read_text()  # the control: an open the hook must see
    finally:
        watching = False
    assert [p for p in opened if str(target) in p] == [str(target)], "only the control opened the file"


def test_validation_messages_do_not_echo_the_input() -> None:
    errors = [{"type": "string_type", "loc": ("body", "texts", 0), "msg": "Input should be a valid string",
               "input": "x" * 10_000}] * 7
    message = describe_validation(errors)
    assert "xxxx" not in message and "texts.0: Input should be a valid string" in message and "and 2 more" in message
    assert json.loads(json.dumps(message)) == message


def test_a_served_classifier_labels_by_the_threshold_it_was_started_with(tiny_run: Path, tiny_engine) -> None:
    from ctxlearn.serve.engine import open_engine

    texts = ["good great movie", "awful sad plot", "the film was fine", "bad"]
    p = tiny_engine.predictor.predict_proba([Example(t, "") for t in texts])[:, 1]
    t = float(np.sort(p)[0] + 1e-6)  # every text but the least positive one
    with TestClient(app_for(open_engine(tiny_run, f"positive={t!r}"))) as client:
        body = client.post("/v1/predict", json={"texts": texts}, headers=AUTH).json()
        assert client.get("/readyz").json()["threshold"] == {"label": "positive", "value": t}
    assert [r["label"] for r in body["predictions"]] == ["positive" if v >= t else "negative" for v in p]
    assert sum(r["label"] == "positive" for r in body["predictions"]) == 3


def test_a_client_that_hangs_up_mid_request_is_counted_apart_from_server_errors() -> None:
    """A client that sent half a body and went away was counted a 500, "internal": no response was sent, and
    flaky clients tripped alerts on server errors."""
    metrics = Metrics()
    scope = {"type": "http", "path": "/v1/predict", "headers": [(b"content-length", b"1000")]}

    async def hung_up() -> dict:
        return {"type": "http.disconnect"}

    async def no_response(message: dict) -> None:
        pytest.fail("a response was sent")

    async def unreached(scope, receive, send) -> None:
        pytest.fail("the app ran without the body")

    asyncio.run(Observe(LimitBody(unreached, 2000), metrics)(scope, hung_up, no_response))
    text = metrics.render().decode()
    assert 'ctxlearn_requests_total{status="499"} 1.0' in text
    assert 'ctxlearn_errors_total{kind="client_closed"} 1.0' in text
    assert 'status="500"' not in text

    async def broken(scope, receive, send) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):  # a server fault with no response is still a 500
        asyncio.run(Observe(broken, metrics)(scope, hung_up, no_response))
    assert 'ctxlearn_requests_total{status="500"} 1.0' in metrics.render().decode()
