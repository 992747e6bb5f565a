from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
from huggingface_hub import HfApi, constants

from ctxlearn.errors import ModelError
from ctxlearn.models.hub import needed_files
from ctxlearn.models.registry import load_encoder, resolve_model

# the files of sentence-transformers/all-MiniLM-L6-v2 on the Hub, less some of its ONNX and OpenVINO copies
MINILM_REPO = ["1_Pooling/config.json", "README.md", "config.json", "config_sentence_transformers.json",
               "data_config.json", "model.safetensors", "modules.json", "onnx/model.onnx",
               "onnx/model_qint8_avx512.onnx", "openvino/openvino_model.bin", "openvino/openvino_model.xml",
               "pytorch_model.bin", "rust_model.ot",
               "sentence_bert_config.json", "special_tokens_map.json", "tf_model.h5", "tokenizer.json",
               "tokenizer_config.json", "train_script.py", "vocab.txt"]


def test_a_hub_model_downloads_its_configs_tokenizer_and_one_weights_format() -> None:
    assert sorted(needed_files(MINILM_REPO, "org/m")) == [
        "1_Pooling/config.json", "config.json", "config_sentence_transformers.json", "data_config.json",
        "model.safetensors", "modules.json", "sentence_bert_config.json", "special_tokens_map.json",
        "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    older = ["config.json", "pytorch_model.bin", "training_args.bin", "tf_model.h5", "vocab.txt"]
    assert needed_files(older, "org/m") == ["config.json", "vocab.txt", "pytorch_model.bin"]
    with pytest.raises(ModelError, match=r"no PyTorch weights .*tf_model.h5"):
        needed_files(["config.json", "tf_model.h5"], "org/m")


def _cache_snapshot(cache: Path, repo: str, model: Path, commit: str = "0123abc") -> Path:
    """``model``'s files laid out as huggingface_hub caches ``repo`` at ``commit`` (refs/main names it)."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    shutil.copytree(model, root / "snapshots" / commit)
    return root / "snapshots" / commit


def test_offline_a_cached_hub_model_is_its_snapshot_with_its_kind_and_pooling(
        tiny_bert: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """Offline (HF_HUB_OFFLINE, set for every test) the cached copy is read at once; transformers spent
    about 100 s in retries before it loaded one, and ctxlearn called every Hub model's kind "unknown" and
    pooled a sentence-transformers model by [CLS]."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    snapshot = _cache_snapshot(tmp_path, "org/tiny", tiny_bert)
    (snapshot / "1_Pooling").mkdir()
    (snapshot / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    source = resolve_model("hf:org/tiny")
    assert (source.path, source.kind, source.pooling) == (str(snapshot), "encoder", "mean")
    assert "the copy in the Hugging Face cache is used (revision 0123abc)" in capsys.readouterr().err
    backbone, _ = load_encoder(source)
    assert backbone.config.hidden_size == 32


def test_offline_a_hub_model_not_cached_is_refused_naming_the_offline_models(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match=r"did not answer \(OfflineModeIsEnabled.*not in the Hugging Face cache; "
                                         r"offline, use a packaged model \(`minilm`"):
        resolve_model("hf:org/not-cached")


def test_online_only_the_needed_files_are_downloaded_at_the_revision_the_hub_gave(
        tiny_bert: Path, tmp_path: Path, monkeypatch) -> None:
    siblings = [SimpleNamespace(rfilename=f) for f in MINILM_REPO]
    info = SimpleNamespace(sha="feed42", siblings=siblings)
    monkeypatch.setattr(HfApi, "model_info", lambda self, repo, revision, timeout: info)
    calls = []

    def download(repo: str, revision: str, allow_patterns: list[str]) -> str:  # as hub_folder calls it
        calls.append((repo, revision, sorted(allow_patterns)))
        return str(_cache_snapshot(tmp_path, repo, tiny_bert, revision))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", download)
    source = resolve_model("hf:org/m")
    assert calls == [("org/m", "feed42", sorted(needed_files(MINILM_REPO, "org/m")))]
    assert source.path.endswith("snapshots/feed42") and source.kind == "encoder"


def test_a_repo_the_hub_does_not_serve_is_refused_without_reading_the_cache(monkeypatch) -> None:
    import httpx

    from huggingface_hub.errors import RepositoryNotFoundError

    def missing(self, repo: str, revision: str | None, timeout: float):
        response = httpx.Response(404, request=httpx.Request("GET", "https://huggingface.co/api/models/org/typo"))
        raise RepositoryNotFoundError("404", response=response)

    monkeypatch.setattr(HfApi, "model_info", missing)
    with pytest.raises(ModelError, match=r"hf:org/typo: no model the Hub lets this machine read .*hf auth login"):
        resolve_model("hf:org/typo")


def test_models_lists_the_hub_models_that_hf_reads_offline(tiny_bert: Path, tmp_path: Path, monkeypatch,
                                                          capsys) -> None:
    from ctxlearn.cli import main

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    snapshot = _cache_snapshot(tmp_path, "org/tiny", tiny_bert)
    gguf_only = _cache_snapshot(tmp_path, "org/quantized", tiny_bert)
    (gguf_only / "config.json").unlink()  # a GGUF repo: no transformers config, so not an hf: model
    assert main(["models"]) == 0
    listed = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("hf:")]
    assert listed == [["hf:org/tiny", "encoder", str(snapshot)]]
    assert main(["models", "--json"]) == 0  # for scripts: `models --json` was an unrecognized argument
    rows = json.loads(capsys.readouterr().out)
    assert rows[-1] == {"name": "hf:org/tiny", "kind": "encoder", "where": str(snapshot), "source": "cache"}
    assert [r["name"] for r in rows if r["source"] == "registry"] == ["minilm", "smollm2"]


OLD, NEW = "a" * 40, "b" * 40  # commits: huggingface_hub finds a revision in the cache by its full hash


def test_offline_a_revision_of_a_cached_hub_model_is_its_snapshot(tiny_bert: Path, tmp_path: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    older = _cache_snapshot(tmp_path, "org/tiny", tiny_bert, commit=OLD)
    shutil.copytree(tiny_bert, older.parent / NEW)
    (older.parent.parent / "refs" / "main").write_text(NEW)  # main moved on; the old commit stays cached
    assert resolve_model("hf:org/tiny").path == str(older.parent / NEW)
    assert resolve_model(f"hf:org/tiny@{OLD}").path == str(older)
    with pytest.raises(ModelError, match=r"hf:org/tiny@v9: the Hugging Face Hub did not answer"):
        resolve_model("hf:org/tiny@v9")


def test_a_copied_run_of_a_hub_model_reloads_the_commit_it_was_trained_on(
        tiny_bert: Path, toy_data: Path, tmp_path: Path, monkeypatch) -> None:
    """A run's recorded snapshot path is gone (the run copied to another machine): its base is found
    again at the commit that path named, not at whatever the main branch holds now."""
    import torch
    from transformers import BertModel

    from ctxlearn.artifact import load_classifier
    from ctxlearn.config import TrainConfig
    from ctxlearn.train.run import run_training

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    trained_on = _cache_snapshot(cache, "org/tiny", tiny_bert, commit=OLD)
    run_training(TrainConfig(data=str(toy_data), model="hf:org/tiny", method="head", out=str(tmp_path / "run"),
                             bf16="off"))
    newer = trained_on.parent / NEW  # main moves on to other weights
    shutil.copytree(tiny_bert, newer)
    torch.manual_seed(1)
    BertModel(BertModel.from_pretrained(tiny_bert).config, add_pooling_layer=False).save_pretrained(newer)
    (cache / "models--org--tiny" / "refs" / "main").write_text(NEW)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["model_source"]["path"] == str(trained_on)
    manifest["model_source"]["path"] = f"/elsewhere/hub/models--org--tiny/snapshots/{OLD}"
    (tmp_path / "run" / "manifest.json").write_text(json.dumps(manifest))
    model, *_ = load_classifier(tmp_path / "run")  # main's weights would fail the recorded sha256
    trained = BertModel.from_pretrained(trained_on).embeddings.word_embeddings.weight
    torch.testing.assert_close(model.backbone.embeddings.word_embeddings.weight, trained, rtol=0, atol=0)
