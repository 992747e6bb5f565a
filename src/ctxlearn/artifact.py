"""Run folders: written atomically, reloaded exactly.

Layout (everything a plain transformers / peft user needs, in their formats):
  config.yaml  manifest.json  labels.json  metrics.json  report.md  confusion.{txt,png}  logs/
  tokenizer/              the tokenizer (AutoTokenizer.from_pretrained)
  backbone/               trained backbone, when its weights changed (AutoModel.from_pretrained)
  adapter/                peft adapter, for peft methods (PeftModel.from_pretrained on the base)
  bottleneck/             bottleneck adapters and LayerNorms, for `adapter` (methods/adapter.py)
  head.safetensors        the head: ``weight`` (C, H), ``bias`` (C,); for tagging runs it is
                          applied to every token's state and C counts the BIO tags in labels.json
Methods that leave the backbone untouched store no copy of it; the manifest names the base model
and the sha256 of its weights, checked on load.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from safetensors.torch import load_file, save_file
from torch import nn

from ctxlearn.errors import ConfigError, ModelError
from ctxlearn.export.quantize import is_int8, quantize_int8
from ctxlearn.methods.adapter import adapted, load_adapters, save_adapters
from ctxlearn.models.classifier import EncoderClassifier
from ctxlearn.models.registry import ModelSource, ensure_local, load_encoder, resolve_model
from ctxlearn.tasks import TASKS


def versions() -> dict[str, str]:
    """The versions a run folder was made with, for its manifest: ctxlearn and the libraries it trains on."""
    import platform

    import peft
    import torch
    import transformers

    from ctxlearn import __version__

    return {"ctxlearn": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__}


def weights_sha256(model_dir: str) -> str | None:
    """sha256 of a local model folder's weights: its safetensors files, else its PyTorch .bin files
    (None where it holds neither)."""
    folder = Path(model_dir)
    files = (sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))) if folder.is_dir() else []
    if not files:
        return None
    return _sha256_of(tuple((str(f), f.stat().st_ino, f.stat().st_size, f.stat().st_mtime_ns) for f in files))


def folder_stamp(folder: Path) -> str:
    """A cheap identity of a run folder (each file's path, size and modification time, logs left out): a
    run trained or exported again into the same folder gets another one."""
    stats = [(str(f.relative_to(folder)), f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(folder.rglob("*"))
             if f.is_file() and f.relative_to(folder).parts[0] != "logs"]
    return hashlib.sha256(repr(stats).encode()).hexdigest()


@functools.lru_cache(maxsize=8)
def _sha256_of(files: tuple[tuple[str, int, int, int], ...]) -> str:
    # Keyed on each file's inode, size and mtime, so a run that asks several times (each cached-feature
    # key, then the manifest) reads the weights once, and a file replaced since is read again.
    h = hashlib.sha256()
    for path, *_ in files:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def _is_peft(module: nn.Module) -> bool:
    from peft import PeftModel

    return isinstance(module, PeftModel)


def save_weights(model: EncoderClassifier, tokenizer: Any, folder: Path) -> str:
    """Write tokenizer, head and whichever of backbone/adapter the method changed; returns which."""
    tokenizer.save_pretrained(folder / "tokenizer")
    save_file({k: v.detach().contiguous().cpu() for k, v in model.head.state_dict().items()},
              str(folder / "head.safetensors"))
    if _is_peft(model.backbone):
        model.backbone.save_pretrained(folder / "adapter")
        return "adapter"
    if adapted(model.backbone):
        save_adapters(model.backbone, folder / "bottleneck")
        return "bottleneck"
    if any(p.requires_grad for p in model.backbone.parameters()):
        model.backbone.save_pretrained(folder / "backbone")
        return "backbone"
    return "base"


# The kinds of folder a command writes, by the file that marks each (an export holds its source's manifest.json
# too, so export.json is looked for first). Only a folder of ours, or an empty one, may be replaced whole by a
# new run, and a command replaces a folder of its own kind only.
RUN, EXPORT, EVAL, PRETRAINED = "a trained run", "an int8 export", "an eval report", "a pretrained model"
OUTPUT_KINDS = {"export.json": EXPORT, "eval.json": EVAL, "pretrain.yaml": PRETRAINED, "manifest.json": RUN}
WRITTEN = ".ctxlearn-files"  # the names a command wrote in its folder, one a line: anything else there is the user's
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json",
                   "merges.txt", "added_tokens.json")  # what save_pretrained writes of a tokenizer alone


def check_out(out: str | Path, reads: str | Path | None = None, writes: str | None = None) -> None:
    """Refuse an ``--out`` that a run would wrongly replace, before any work starts: a file, a folder of
    other files (replacing it would delete them), a folder that holds ``reads``, the input, or one of ours
    of another kind than ``writes`` (an ``OUTPUT_KINDS`` kind: an eval report written over a trained run
    deleted its model)."""
    out = Path(out)
    if reads is not None and Path(reads).exists() and out.resolve() in (Path(reads).resolve(), *Path(reads).resolve().parents):
        raise ConfigError(f"--out {out} holds {reads}, which this command reads; give a folder outside it")
    if out.is_file():
        raise ConfigError(f"--out {out} is a file; give the path of a new folder")
    if out.is_dir() and any(out.iterdir()) and output_kind(out) is None:
        raise ConfigError(f"--out {out} holds files that are not a ctxlearn run, and a run replaces its --out folder "
                          f"whole; give a new or empty folder, e.g. {out / 'run'}")
    if added := _added(out):
        raise ConfigError(f"--out {out} holds {', '.join(added[:3])}{', ...' if len(added) > 3 else ''}, which no "
                          "ctxlearn command wrote there, and a run replaces its --out folder whole: move them out "
                          f"first, or give a new folder, e.g. {out.with_name(f'{out.name}-2')}")
    held = output_kind(out) if out.is_dir() else None
    if writes and held and held != writes:
        short = {RUN: "run", EXPORT: "int8", EVAL: "eval", PRETRAINED: "pretrained"}[writes]
        raise ConfigError(f"--out {out} holds {held}, and writing {writes} there would replace it whole; give a new "
                          f"folder, e.g. {out.with_name(f'{out.name}-{short}')}")


def _added(out: Path) -> list[str]:
    """What was put in the folder ``out`` after a command wrote it (notes, an analysis): the names its
    ``WRITTEN`` record lacks. Folders written before the record have none, and nothing to tell apart."""
    record = out / WRITTEN
    if not record.is_file():
        return []
    written = {*record.read_text().splitlines(), WRITTEN}
    return sorted(p.name for p in out.iterdir() if p.name not in written)


def output_kind(folder: Path) -> str | None:
    """The ``OUTPUT_KINDS`` kind of ``folder``, or None for a folder that is none of ours."""
    return next((kind for marker, kind in OUTPUT_KINDS.items() if (folder / marker).is_file()), None)


def check_tokenizer_out(out: str | Path) -> None:
    """Refuse an ``--out`` for a tokenizer alone that holds other files: a run folder's (whose own tokenizer
    a new one would replace without a word, and the run then read text with it) or anything else."""
    out = Path(out)
    if out.is_file():
        raise ConfigError(f"--out {out} is a file; give the path of a new folder")
    if out.is_dir() and output_kind(out.parent) is not None:  # the run's own tokenizer/
        raise ConfigError(f"--out {out} is a folder of the ctxlearn run {out.parent}, whose model reads text with "
                          f"its tokenizer; give a folder outside it, e.g. {out.parent}-{out.name}")
    other = sorted(f.name for f in out.iterdir() if f.name not in (*TOKENIZER_FILES, WRITTEN)) if out.is_dir() else []
    if other:
        raise ConfigError(f"--out {out} holds files that are not a tokenizer's ({', '.join(other[:3])}"
                          f"{', ...' if len(other) > 3 else ''}), and writing one there replaces the folder; give a "
                          f"new or empty folder, e.g. {out}-tokenizer")


def write_atomically(out: Path, fill: Any, check: Callable[[Path], None] | None = None,
                     writes: str | None = None) -> Path:
    """Build the run folder under a temporary name, then swap it in, so a crash leaves either the old
    folder or the new one, never half of one. ``out`` must pass ``check`` (``check_out`` unless given, with
    ``writes``, the kind of folder written)."""
    out = Path(out)
    restore_stranded(out)
    (check or (lambda folder: check_out(folder, writes=writes)))(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}-{time.time_ns()}")
    tmp.mkdir()
    try:
        fill(tmp)
        (tmp / WRITTEN).write_text("".join(f"{p.name}\n" for p in sorted(tmp.iterdir())))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.with_name(f".{out.name}.old-{time.time_ns()}")
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def restore_stranded(out: Path) -> Path | None:
    """Put back the folder a crash left under its old name: a swap stopped after moving ``out`` aside
    and before moving the new folder in leaves no ``out``, only ``.out.old-N``. Returns the folder
    restored (the newest, if several), or None."""
    if out.exists():
        return None
    stranded = sorted(out.parent.glob(f".{out.name}.old-*"), key=lambda p: p.name.rsplit("-", 1)[-1].zfill(20))
    if not stranded:
        return None
    stranded[-1].rename(out)
    return out


def read_manifest(folder: Path) -> dict[str, Any]:
    restore_stranded(Path(folder))
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise ModelError(f"{folder}: not a ctxlearn run folder (no manifest.json); pass the --out folder of a finished run")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelError(f"{path}: not valid JSON ({err}); the run folder is damaged: train the run again") from None
    if not isinstance(manifest, dict) or "model_source" not in manifest:
        raise ModelError(f"{path}: no 'model_source' entry; this is not a manifest that ctxlearn wrote")
    return manifest


def load_classifier(folder: str | Path) -> tuple[EncoderClassifier, Any, list[str], dict[str, Any]]:
    """(model in eval mode, tokenizer, labels, manifest) from a run folder: an ``EncoderClassifier``, or
    the model of the run's task (an ``EncoderTagger`` for tagging)."""
    from transformers import AutoTokenizer

    folder = Path(folder)
    manifest = read_manifest(folder)
    source = ModelSource(**manifest["model_source"])
    if (folder / "backbone").is_dir():
        backbone, _ = load_encoder(ModelSource(source.name, str(folder / "backbone"), source.kind, source.pooling))
    else:
        backbone, _ = load_encoder(base_model(source, manifest.get("base_weights_sha256")))
    if (folder / "adapter").is_dir():
        backbone = load_peft_adapter(backbone, folder / "adapter")
    if (folder / "bottleneck").is_dir():
        load_adapters(backbone, folder / "bottleneck")
    labels = json.loads((folder / "labels.json").read_text())
    model = TASKS.get(manifest.get("task", "classification")).make_model(backbone, len(labels), source.pooling)
    model.head.load_state_dict(load_file(str(folder / "head.safetensors")))
    if is_int8(manifest):  # `ctxlearn export --int8`: fp32 weights on disk, quantized as the export measured them
        quantize_int8(model)
    return model.eval(), AutoTokenizer.from_pretrained(folder / "tokenizer"), labels, manifest


def load_peft_adapter(backbone: Any, adapter: Path) -> Any:
    """``PeftModel.from_pretrained``, without peft's false alarm on AdaLoRA adapters: peft (0.21, 0.22) checks
    every ``rank_pattern`` key as a module pattern and warns that none matched, but AdaLoRA keys its
    pattern by parameter (``...query.lora_E``) and applies it all the same (the method table's reload
    gives the saved probabilities), so every load of an adalora run warned (``open_predictor``, ``serve``)."""
    from peft import PeftModel

    with warnings.catch_warnings():  # AdaLoRA's keys, and only theirs, end in .lora_E; 0.22 says "or parameter"
        warnings.filterwarnings("ignore", r"The following rank_pattern keys did not match any targeted module "
                                r"(or parameter )?and were ignored: \['[^']*\.lora_E'", RuntimeWarning)
        return PeftModel.from_pretrained(backbone, str(adapter))


def base_model(recorded: ModelSource, expected: str | None) -> ModelSource:
    """The base model a run (adapter, head or icl) recorded, with the weights it was made with (sha256
    ``expected``): where the run found it, or, when that path is gone (the run copied to another machine,
    the packages installed elsewhere, a Hub model recorded by repo id), where its name resolves now."""
    source = recorded
    if not Path(recorded.path).is_dir() and not (recorded.gguf and Path(recorded.gguf).is_file()):
        found = resolve_model(_same_revision(recorded))
        source = dataclasses.replace(recorded, path=found.path, gguf=found.gguf)
    ensure_local(source)
    if expected and weights_sha256(source.path) != expected:
        raise ModelError(f"the base model {source.name!r} at {source.path} is not the one this run was made with "
                         f"(weights sha256 differs from {expected[:12]}…); install the same model version")
    return source


def _same_revision(recorded: ModelSource) -> str:
    """The name that finds a run's base model again: a Hub model's at the commit its recorded snapshot
    folder names (hf:REPO@COMMIT), so that a run copied elsewhere gets the weights it was made with."""
    path = Path(recorded.path)
    if recorded.name.startswith("hf:") and path.parent.name == "snapshots":
        return f"{recorded.name.split('@')[0]}@{path.name}"
    return recorded.name
