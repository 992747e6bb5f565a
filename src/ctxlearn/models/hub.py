"""``hf:<repo-id>`` models as local folders: the files loading needs, downloaded into the Hugging Face
cache; or, when the Hub does not answer, the copy already in that cache. A Hub model is then a folder as
any other, so its kind and pooling are read from its files and its weights are hashed into the manifest.

Why not leave the Hub to transformers: offline, it retries each file it looks up for about 25 s (measured
here: 55 s before it failed on a model it had not cached, 100 s of waits before it loaded one it had), and
it does not say which revision it loaded."""
from __future__ import annotations

from pathlib import Path

from ctxlearn.errors import ModelError

HUB_TIMEOUT = 10.0  # seconds to wait for the Hub's answer before reading the cache
OFFLINE_HINT = "offline, use a packaged model (`minilm`, `smollm2`; see `ctxlearn models`) or a local folder"
_SMALL = (".json", ".txt", ".model", ".tiktoken")  # configs, vocabularies, sentencepiece and tiktoken models


def hub_folder(spec: str) -> Path:
    """The local folder of the Hub model ``spec`` (REPO, or REPO@REVISION: a branch, tag or commit): its
    needed files at that revision (the main branch's by default), downloaded where missing; or, when the
    Hub does not answer, its snapshot in the cache. The folder's name is the commit it holds."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError, RevisionNotFoundError
    from huggingface_hub.utils import validate_repo_id

    repo, _, revision = spec.partition("@")
    try:  # `hf:` or `hf:bad repo` went to the Hub, then to the cache, and ended in a traceback
        validate_repo_id(repo)
    except HFValidationError:
        raise ModelError(f"hf:{spec}: {repo!r} is not a Hub repo id; give OWNER/NAME (letters, digits, '-', '_' "
                         "or '.'), e.g. hf:sentence-transformers/all-MiniLM-L6-v2") from None
    try:
        info = HfApi().model_info(repo, revision=revision or None, timeout=HUB_TIMEOUT)
    except RevisionNotFoundError:
        raise ModelError(f"hf:{spec}: the Hub holds no revision {revision!r} of {repo}; name a branch, tag or "
                         "commit it has, or leave @REVISION out for its main branch") from None
    except RepositoryNotFoundError as err:  # the Hub answered: a typo, or private or gated (needs `hf auth login`)
        raise ModelError(f"hf:{spec}: no model the Hub lets this machine read ({type(err).__name__}); check the "
                         "repo id, or log in with `hf auth login` for a private or gated model") from None
    except Exception as err:  # no answer (offline, DNS, a proxy, a timeout, the Hub down, HF_HUB_OFFLINE=1)
        return cached_folder(repo, revision, f"{type(err).__name__}: {err}")
    files = needed_files([s.rfilename for s in info.siblings or []], repo)
    return Path(snapshot_download(repo, revision=info.sha, allow_patterns=files))


def cached_folder(repo: str, revision: str, why: str) -> Path:
    """The snapshot of ``repo`` at ``revision`` (main's, when empty) in the Hugging Face cache, for when
    the Hub did not answer (``why``)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    from ctxlearn.train.dist import say

    at = f"@{revision}" if revision else ""
    try:
        folder = Path(snapshot_download(repo, revision=revision or None, local_files_only=True))
    except LocalEntryNotFoundError:
        raise ModelError(f"hf:{repo}{at}: the Hugging Face Hub did not answer ({why}) and the model is not in "
                         f"the Hugging Face cache; {OFFLINE_HINT}") from None
    say(f"hf:{repo}{at}: the Hub did not answer, so the copy in the Hugging Face cache is used (revision "
        f"{folder.name})")
    return folder


def needed_files(files: list[str], repo: str) -> list[str]:
    """The files of a Hub repo (``files``, paths in it) that loading reads: the top folder's configs and
    tokenizer files, one format of weights (safetensors, else PyTorch's .bin), and a sentence-transformers
    model's pooling config; not its ONNX, OpenVINO, TensorFlow or Flax copies."""
    top = [f for f in files if "/" not in f]
    weights = [f for f in top if f.endswith(".safetensors")]
    weights = weights or [f for f in top if f.startswith("pytorch_model") and f.endswith(".bin")]
    if not weights:
        raise ModelError(f"hf:{repo}: no PyTorch weights (.safetensors or pytorch_model.bin) among its files "
                         f"({', '.join(top)})")
    return [f for f in top if f.endswith(_SMALL)] + weights + [f for f in files if f == "1_Pooling/config.json"]


def cached_models() -> list[tuple[str, Path]]:
    """(``hf:REPO``, snapshot folder) of each transformers model in the Hugging Face cache, at the revision
    its main ref names: what ``hf:`` reads when the Hub does not answer."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        cache = scan_cache_dir()
    except CacheNotFound:
        return []
    found = []
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        main = next((rev for rev in repo.revisions if "main" in rev.refs), None)
        if repo.repo_type == "model" and main is not None and (main.snapshot_path / "config.json").is_file():
            found.append((f"hf:{repo.repo_id}", main.snapshot_path))
    return found
