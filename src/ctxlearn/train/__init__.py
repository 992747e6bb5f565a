"""Training: one entry point (``run_training``) over two paths, gradient steps or cached features."""
from ctxlearn.train.run import run_training

__all__ = ["run_training"]
