"""Methods turn (backbone, task) into a trainable model. One small module per method."""
from ctxlearn.methods.base import METHODS, Method, trainable_parameters

# Importing the modules registers the methods.
from ctxlearn.methods import full, head, lora, topk  # noqa: E402,F401

__all__ = ["METHODS", "Method", "trainable_parameters"]
