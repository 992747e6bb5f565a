"""API keys, the loopback rule and the ``serve`` settings: refusals come before any model is loaded."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from ctxlearn.cli import main
from ctxlearn.errors import ConfigError
from ctxlearn.serve.auth import check_exposure, is_loopback, key_file_is_private, key_matches, read_key
from ctxlearn.serve.config import ServeConfig

KEY = "k" * 24


@pytest.mark.parametrize("header, ok", [
    (f"Bearer {KEY}", True), (f"bearer {KEY}", True), (f"Bearer  {KEY} ", True),
    (None, False), ("", False), (f"Bearer {KEY}x", False), (f"Bearer {KEY[:-1]}", False), (f"Basic {KEY}", False),
    (KEY, False), ("Bearer", False), ("Bearer é", False),
])
def test_key_matches(header, ok) -> None:
    assert key_matches(header, KEY) is ok


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("no-such-host.invalid", False),
])
def test_only_loopback_is_open_without_a_key(host, loopback) -> None:
    assert is_loopback(host) is loopback
    if loopback:
        check_exposure(host, None)
    else:
        with pytest.raises(ConfigError, match="--api-key-file"):
            check_exposure(host, None)
    check_exposure(host, KEY)  # with a key, any address


@pytest.mark.parametrize("content, ok", [(KEY + "\n", True), ("short\n", False), ("", False), ("has a space in it ok", False),
                                         ("\ufeff" + KEY, True),  # a byte-order mark from an editor is not the key
                                         ("clé-secrète-très-longue", False)])  # headers are latin-1: it could never match
def test_read_key(tmp_path: Path, content, ok) -> None:
    path = tmp_path / "key"
    path.write_text(content, encoding="utf-8")
    if ok:
        assert read_key(path) == KEY
    else:
        with pytest.raises(ConfigError, match=str(path)):
            read_key(path)


def test_key_file_privacy(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY)
    path.chmod(0o600)
    assert key_file_is_private(path)
    path.chmod(0o644)
    assert not key_file_is_private(path)


@pytest.mark.parametrize("settings, words", [
    ({"max_batch_size": 0}, "--max-batch-size must be at least 1"),
    ({"max_queue": 8, "max_texts": 16}, "--max-queue (8) must hold at least one full request"),
    ({"port": 70000}, "--port"),
])
def test_bad_settings_are_named(settings, words) -> None:
    with pytest.raises(ConfigError) as err:
        ServeConfig(**settings)
    assert words in str(err.value)


@pytest.mark.parametrize("args, words", [
    (["--host", "0.0.0.0"], "--host 0.0.0.0 accepts connections from other machines"),
    (["--api-key-file", "/nonexistent/key"], "cannot read it"),
])
def test_serve_refuses_before_loading(tmp_path: Path, capsys, args, words) -> None:
    # tmp_path is no run folder: a refusal that came after loading would complain about the manifest instead
    assert main(["serve", str(tmp_path), *args]) == 2
    assert words in capsys.readouterr().err


def test_a_port_in_use_or_a_host_not_found_is_refused_before_loading(tmp_path: Path, capsys) -> None:
    """A port in use was said by uvicorn only after the model had loaded, which can take minutes."""
    key = tmp_path / "key"
    key.write_text(KEY + "\n")
    key.chmod(0o600)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(tmp_path), "--port", str(port)]) == 2  # tmp_path is no run folder
    assert f"--port {port}: 127.0.0.1:{port} is in use by another server" in capsys.readouterr().err
    assert main(["serve", str(tmp_path), "--host", "nosuch.invalid", "--api-key-file", str(key)]) == 2
    assert "--host nosuch.invalid: no such host" in capsys.readouterr().err


def test_serve_help_lists_every_setting(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    for name in ServeConfig.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in text


def test_serving_an_int8_export_whose_labels_change_with_the_batch_warns(tmp_path: Path, capsys) -> None:
    """export measured that 8.1% of a tagger's int8 word tags change between batch sizes 1 and 32, and serve
    batches concurrent requests together: the same request could be answered two ways, without a word."""
    from ctxlearn.serve.cli import batch_dependence

    record = {"measured": {"int8": {"batch_sensitivity": {"share": 0.081, "n": 256, "of": "word tags"}}}}
    (tmp_path / "export.json").write_text(json.dumps(record))
    note = batch_dependence(tmp_path, 32)
    assert note is not None and "8.1% of its test word tags changed between batch sizes 1 and 32" in note
    assert "--max-batch-size 1 makes each answer its own" in note
    assert main(["serve", str(tmp_path), "--port", "0"]) == 2  # said before the model loads (here, fails to)
    assert f"ctxlearn: warning: {note}" in capsys.readouterr().err
    assert batch_dependence(tmp_path, 1) is None  # each answer its own already
    record["measured"]["int8"]["batch_sensitivity"]["share"] = 0.0
    (tmp_path / "export.json").write_text(json.dumps(record))
    assert batch_dependence(tmp_path, 32) is None  # none changed
    assert batch_dependence(tmp_path / "run", 32) is None  # a run folder, no export
