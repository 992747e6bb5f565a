"""Evaluation: metrics from predictions, and the report files written beside them."""
from ctxlearn.evaluate.metrics import classification_metrics
from ctxlearn.evaluate.report import write_report

__all__ = ["classification_metrics", "write_report"]
