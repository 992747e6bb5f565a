"""Methods turn (backbone, task) into a trainable model. One small module per method."""
from ctxlearn.methods.base import METHODS, Method, options_class, trainable_parameters

# Importing the modules registers the methods, in the order `ctxlearn methods` lists them.
from ctxlearn.methods import full, head, topk, lora, adalora, ia3, adapter, prefix, prompt  # noqa: E402,F401,I001

__all__ = ["METHODS", "Method", "options_class", "trainable_parameters"]
