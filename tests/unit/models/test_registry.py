from __future__ import annotations

from pathlib import Path

import pytest

from ctxlearn.errors import ConfigError, ModelError
from ctxlearn.models.registry import MODELS, load_encoder, resolve_model
from ctxlearn.registry import Registry


def test_registry_rejects_duplicates_and_lists_choices() -> None:
    reg: Registry[int] = Registry("thing")
    reg.register("a")(1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(2)
    with pytest.raises(ConfigError, match="choose one of: a"):
        reg.get("b")


def test_local_folder_is_a_model(tiny_bert: Path) -> None:
    src = resolve_model(str(tiny_bert))
    assert src.kind == "encoder" and src.pooling == "cls" and Path(src.path) == tiny_bert.resolve()
    backbone, tokenizer = load_encoder(src)
    assert backbone.config.hidden_size == 32 and tokenizer("good")["input_ids"][0] == tokenizer.cls_token_id


def test_unknown_model_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="minilm"):
        resolve_model(str(tmp_path / "nowhere"))


def test_hub_model_offline_names_the_offline_defaults(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="packaged model .*minilm"):
        load_encoder(resolve_model("hf:some-org/some-model-that-is-not-cached"))


def test_registered_names() -> None:
    assert {"minilm", "smollm2"} <= set(MODELS.names())
