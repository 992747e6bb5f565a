"""Entity-level metrics for tagging: seqeval precision / recall / F1 in strict BIO (IOB2) mode, per
entity type, and a type confusion table, in the shape of ``classification_metrics``.

Type confusion (hand-written: seqeval has none): each gold entity is paired with the predicted entity
that overlaps it most (ties: the first), and counted in row gold type, column predicted type; a gold
entity that no prediction overlaps is counted in column ``none`` (missed), and a predicted entity that
overlaps no gold one in row ``none`` (spurious). Exact matches sit on the diagonal with the boundary
errors of the right type, so the table shows which types are mistaken for which.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from ctxlearn.data.tags import entity_spans

NONE = "none"  # the confusion table's row of spurious predictions and column of missed entities


def entity_metrics(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], types: list[str]) -> dict[str, Any]:
    """Micro and macro precision/recall/F1 over entities, per type, and the type confusion table
    (``confusion`` rows gold, columns predicted, over ``confusion_labels`` = types + none). ``types``
    are the model's; types found only in ``gold`` or ``pred`` are added."""
    gold, pred = [list(s) for s in gold], [list(s) for s in pred]
    types = sorted(set(types) | {k for s in gold + pred for k, _, _ in entity_spans(s)})
    report = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    out: dict[str, Any] = {"n": len(gold), "entities": int(sum(len(entity_spans(s)) for s in gold)),
                           "predicted_entities": int(sum(len(entity_spans(s)) for s in pred))}
    micro, macro = report["micro avg"], report["macro avg"]
    out.update(precision=float(micro["precision"]), recall=float(micro["recall"]), f1=float(micro["f1-score"]),
               macro_precision=float(macro["precision"]), macro_recall=float(macro["recall"]),
               macro_f1=float(macro["f1-score"]))
    out["per_type"] = {t: {"precision": float(report.get(t, {}).get("precision", 0.0)),
                           "recall": float(report.get(t, {}).get("recall", 0.0)),
                           "f1": float(report.get(t, {}).get("f1-score", 0.0)),
                           "support": int(report.get(t, {}).get("support", 0))} for t in types}
    out["confusion_labels"] = [*types, NONE]
    out["confusion"] = type_confusion(gold, pred, types).tolist()
    return out


def type_confusion(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], types: list[str]) -> np.ndarray:
    """(T+1, T+1) counts: rows gold type or none (spurious), columns predicted type or none (missed)."""
    index = {t: i for i, t in enumerate(types)}
    none = len(types)
    table = np.zeros((none + 1, none + 1), dtype=int)
    for g_tags, p_tags in zip(gold, pred):
        g_spans, p_spans = entity_spans(g_tags), entity_spans(p_tags)
        for kind, a, b in g_spans:
            overlaps = [(min(b, pb) - max(a, pa), pk) for pk, pa, pb in p_spans if min(b, pb) > max(a, pa)]
            best = max(overlaps, key=lambda o: o[0])[1] if overlaps else None
            table[index[kind], none if best is None else index[best]] += 1
        for kind, a, b in p_spans:
            if not any(min(b, gb) > max(a, ga) for _, ga, gb in g_spans):
                table[none, index[kind]] += 1
    return table
