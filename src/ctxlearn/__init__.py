"""ctxlearn: adapt pretrained Transformers to your text task and compare the ways of adapting."""

__version__ = "0.1.0"
