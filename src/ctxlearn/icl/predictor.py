"""A saved ``ctxlearn icl`` run folder, reloaded: the same model, prompt, demonstrations (or pool and
selection rule) and calibration, applied to new examples."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ctxlearn.artifact import base_model, folder_stamp, read_manifest
from ctxlearn.config import from_dict, load_yaml
from ctxlearn.data import Example, Fields
from ctxlearn.data.readers import read_examples
from ctxlearn.errors import ModelError
from ctxlearn.icl.classifier import IclClassifier
from ctxlearn.icl.config import IclConfig
from ctxlearn.icl.prompt import PromptSpec
from ctxlearn.icl.run import build_classifier, load_lm, part_size, warn_context
from ctxlearn.models import ModelSource
from ctxlearn.predict import Predictor


class IclPredictor(Predictor):
    """``predict_proba(examples)`` -> (N, C); ``evaluate`` and ``predict_file`` as for trained runs.
    The model loads on first use. Per-query random draws and orders (``random-each``, ``--order random``)
    are seeded from the run's seed and each input's own text, so an input gets the same prediction alone
    or in any batch (``serve`` regroups requests); they are not the draws the run made in test order."""

    def __init__(self, folder: str | Path) -> None:  # no super().__init__: there is no trained head to load
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        if self.manifest.get("method") != "icl":
            raise ModelError(f"{self.folder}: a {self.manifest.get('method')!r} run, not an icl run; use Predictor")
        self.config = load_yaml(self.folder / "config.yaml")
        self.cfg: IclConfig = from_dict(IclConfig, self.config, str(self.folder / "config.yaml"))
        self.icl = json.loads((self.folder / "icl.json").read_text())
        self.labels: list[str] = json.loads((self.folder / "labels.json").read_text())
        self.fields = Fields(self.cfg.text_field, self.cfg.label_field,
                             self.cfg.text_pair_field).for_model(bool(self.manifest.get("text_pairs")))
        self.bf16 = bool(self.manifest.get("bf16", False))
        self._classifier: IclClassifier | None = None
        self.part = part_size(self.icl["selection"]["shared"])  # a causal LM scores far fewer queries a second

    @property
    def classifier(self) -> IclClassifier:
        if self._classifier is None:
            self._classifier = self._load()
        return self._classifier

    def predict_proba(self, examples: list[Example]) -> np.ndarray:
        """Label probabilities; as the run did, it warns of prompts past the LM's context (which it knows once it
        has built them): an input past it on its own is read from its end only."""
        result = self.classifier.predict(examples)
        warn_context(result, "inputs", self.classifier.shots, self.classifier.max_context)
        return result.probs

    def run_key(self) -> str:
        return f"{folder_stamp(self.folder)}|{self.threshold}"

    def warn_of_cuts(self, examples: list[Example], source: str) -> None:
        """Nothing here: a prompt is cut to the LM's context by its demonstrations first, and ``predict_proba``
        warns of what was cut."""

    def _load(self) -> IclClassifier:
        source = base_model(ModelSource(**self.icl["model"]["source"]), self.manifest.get("base_weights_sha256"))
        model, tokenizer = load_lm(source, self.bf16)  # the run's precision, for the run's numbers
        sel = self.icl["selection"]
        if sel["shared"]:  # the demonstrations the run drew, stored in prompt order
            pool = [Example(d["text"], d["label"], d.get("text_pair")) for d in self.icl["demonstrations"]]
            how = {"select_name": "fixed", "shots": len(pool), "order": "similar-first"}
        else:
            pool = read_examples(self.folder / self.icl["pool"], Fields("text", "label", _pair_field(self.folder)))
            how = {"select_name": sel["select"], "shots": sel["shots"], "order": sel["order"]}
        return build_classifier(self.cfg, model, tokenizer, self.labels, PromptSpec(**self.icl["prompt"]), pool,
                                per_query=True, **how)


def _pair_field(folder: Path) -> str | None:
    with (folder / "pool.jsonl").open(encoding="utf-8") as fh:
        return "text_pair" if "text_pair" in json.loads(fh.readline()) else None
