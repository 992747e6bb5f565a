from __future__ import annotations

import re
from pathlib import Path

import pytest

from ctxlearn.errors import ModelError
from ctxlearn.models.registry import MODELS, load_encoder, resolve_model


def test_local_folder_is_a_model(tiny_bert: Path) -> None:
    src = resolve_model(str(tiny_bert))
    assert src.kind == "encoder" and src.pooling == "cls" and Path(src.path) == tiny_bert.resolve()
    backbone, tokenizer = load_encoder(src)
    assert backbone.config.hidden_size == 32 and tokenizer("good")["input_ids"][0] == tokenizer.cls_token_id


def test_unknown_model_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="minilm"):
        resolve_model(str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match=r"^unknown model 'minlm' \(did you mean 'minilm'\?\): not a registered"):
        resolve_model("minlm")


def test_hub_model_offline_names_the_offline_defaults(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="packaged model .*minilm"):
        load_encoder(resolve_model("hf:some-org/some-model-that-is-not-cached"))


@pytest.mark.parametrize("config, said", [
    ('{"model_type": "bert", ', r"config.json: not valid JSON \(line 1, column 24\)"),
    ("[1, 2]", r"config.json: holds a JSON list, not an object"),
])
def test_a_model_folder_whose_config_is_not_a_json_object_is_named(tmp_path: Path, config: str, said: str) -> None:
    """A cut-short config.json was a JSONDecodeError traceback, a list an AttributeError."""
    (tmp_path / "config.json").write_text(config)
    with pytest.raises(ModelError, match=f"^{re.escape(str(tmp_path))}/{said}.*save_pretrained"):
        resolve_model(str(tmp_path))


def test_a_model_type_transformers_does_not_know_is_named_with_the_folder(tmp_path: Path) -> None:
    """transformers' ValueError came out as a traceback."""
    (tmp_path / "config.json").write_text('{"model_type": "nonesuch"}')
    with pytest.raises(ModelError, match=f"could not load model .* from {re.escape(str(tmp_path))}: .*nonesuch"):
        load_encoder(resolve_model(str(tmp_path)))


@pytest.mark.parametrize("name", ["hf:", "hf:bad repo", "hf:bad repo@main"])
def test_a_hub_name_that_is_no_repo_id_is_refused_before_the_hub_is_asked(monkeypatch, name: str) -> None:
    """An HFValidationError traceback, after a wait on the Hub."""
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda *a, **k: pytest.fail("the Hub was asked"))
    with pytest.raises(ModelError, match=r"is not a Hub repo id; give OWNER/NAME"):
        resolve_model(name)


def test_an_encoder_stored_in_bf16_loads_in_fp32(tiny_bert: Path, tmp_path: Path) -> None:
    """A checkpoint saved in bf16 (as many Hub models ship) loaded in bf16, so --bf16 off trained in it."""
    import torch
    from transformers import AutoModel

    AutoModel.from_pretrained(tiny_bert, dtype=torch.bfloat16).save_pretrained(tmp_path)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
        if (tiny_bert / name).is_file():
            (tmp_path / name).write_bytes((tiny_bert / name).read_bytes())
    backbone, _ = load_encoder(resolve_model(str(tmp_path)))
    assert {p.dtype for p in backbone.parameters()} == {torch.float32}


def test_registered_names() -> None:
    assert {"minilm", "smollm2"} <= set(MODELS.names())


def test_a_checkpoint_with_a_pooler_loads_without_it_or_a_load_report(tiny_bert: Path, tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """MiniLM ships BERT's pooler weights, which ctxlearn does not use; loading without the layer made
    transformers report them as UNEXPECTED on every load, a table Python users could not act on."""
    import torch
    import transformers
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path / "with-pooler"
    torch.manual_seed(0)
    BertModel(BertConfig.from_pretrained(tiny_bert)).save_pretrained(folder)  # pooler included, as MiniLM's
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_warning()
    transformers.logging.enable_propagation()
    try:
        with caplog.at_level("WARNING"):
            model, _ = load_encoder(resolve_model(str(folder)))
    finally:
        transformers.logging.disable_propagation()
        transformers.logging.set_verbosity(level)
    assert model.pooler is None and not any("pooler" in name for name, _ in model.named_parameters())
    assert "UNEXPECTED" not in caplog.text and "pooler" not in caplog.text
    reference = BertModel.from_pretrained(folder, add_pooling_layer=False)
    ids = torch.tensor([[2, 5, 6, 3]])
    torch.testing.assert_close(model(ids).last_hidden_state, reference(ids).last_hidden_state)
