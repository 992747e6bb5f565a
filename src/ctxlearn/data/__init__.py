"""Data layer: readers yield labelled examples; splits make train/dev/test."""
from ctxlearn.data.example import Example, Fields, label_name
from ctxlearn.data.splits import Splits, load_splits

__all__ = ["Example", "Fields", "Splits", "label_name", "load_splits"]
