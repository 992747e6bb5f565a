"""Model layer: a registry of backbones (packaged, local, Hub) and the task heads put on them."""
from ctxlearn.models.registry import MODELS, ModelSource, load_causal_lm, load_encoder, resolve_model

__all__ = ["MODELS", "ModelSource", "load_causal_lm", "load_encoder", "resolve_model"]
