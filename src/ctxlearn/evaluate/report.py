"""Report files for one run: metrics.json, confusion.txt/.png and a readable report.md."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ctxlearn.data.folders import shown_sources
from ctxlearn.data.tags import entity_spans
from ctxlearn.evaluate.metrics import below_majority

CORNER = "gold \\ pred"


def confusion_text(matrix: list[list[int]], labels: list[str]) -> str:
    """The matrix as aligned text: gold labels down the first column, predicted ones across."""
    first = max(len(CORNER), *(len(lab) for lab in labels)) + 2
    width = max(6, *(len(lab) for lab in labels), *(len(str(v)) for row in matrix for v in row))
    head = CORNER.ljust(first) + " ".join(lab.rjust(width) for lab in labels)
    rows = [lab.ljust(first) + " ".join(str(v).rjust(width) for v in row) for lab, row in zip(labels, matrix)]
    return "\n".join([head, *rows]) + "\n"


def confusion_png(matrix: list[list[int]], labels: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = 1.6 + 0.55 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    top = max(max(r) for r in matrix) or 1
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > top / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reliability_png(bins: list[dict[str, float]], path: Path, title: str) -> None:
    """The reliability diagram of ``calibration_bins``: each bin's accuracy against its mean confidence (a
    point on the diagonal is calibrated; below it, the model is surer than it is right), sized by its share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    ax.scatter([b["confidence"] for b in bins], [b["accuracy"] for b in bins], s=[20 + 600 * b["share"] for b in bins],
               color="#4c72b0", alpha=0.7, label="a confidence bin (area: its share)")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], color="#4c72b0", linewidth=1)
    ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="confidence (probability of the predicted class)",
           ylabel="accuracy", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _calibration_lines(test: dict[str, Any]) -> list[str]:
    if not test.get("reliability"):
        return []
    over = sum(b["share"] * (b["confidence"] - b["accuracy"]) for b in test["reliability"])
    lean = "surer than it is right" if over > 0 else "less sure than it is right"
    return ["## Calibration", "",
            f"Expected calibration error {test['ece']:.4f}: on average over test, the model's confidence and its "
            f"accuracy differ by {100 * test['ece']:.1f} points; overall it is {lean} ({100 * abs(over):.1f} points).",
            "", "![reliability](reliability.png)", ""]


def _per_class_table(per_class: dict[str, dict[str, float]], name: str = "class") -> list[str]:
    lines = [f"| {name} | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for lab, m in per_class.items():
        lines.append(f"| {lab} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    return lines


def _title(manifest: dict[str, Any]) -> list[str]:
    if "evaluates" in manifest:  # an `eval --out` folder's eval.json
        return [f"# ctxlearn eval: {manifest['evaluates']} on {manifest['data']}", "",
                f"The run (model `{manifest['model']}`, method `{manifest['method']}`, seed {manifest['seed']}) "
                f"scored on {manifest['scored']}; its \"test\" below is that data.", ""]
    return [f"# ctxlearn run: {manifest['method']} on {manifest['data']}", "",
            f"Model `{manifest['model']}`, method `{manifest['method']}`, seed {manifest['seed']}.", ""]


def _warning_lines(manifest: dict[str, Any]) -> list[str]:
    """The warnings the run (or the evaluation) gave as it read the data, trained and scored, as printed: a
    score read later, away from the terminal, keeps what was said of it (a test split missing a class)."""
    notes = manifest.get("warnings") or []
    if not notes:
        return []
    when = "scoring" if "evaluates" in manifest else "this run"
    return [f"## Warnings ({len(notes)}, given during {when})", "", *(f"- {n}" for n in notes), ""]


SPLIT_ORDER = {"train": 0, "dev": 1, "test": 2}  # a split cut from train's file is recorded after the files read


def _data_lines(manifest: dict[str, Any]) -> list[str]:
    """Each split's size and where it came from (a file, or the share of one it was cut from), as the
    manifest records them; none for an ``eval --out`` folder, whose title says what it scored."""
    sources, sizes = manifest.get("data_sources") or {}, manifest.get("data_sizes") or {}
    if "evaluates" in manifest or not sources:
        return []
    unit = "sentences" if manifest.get("task") == "tagging" else "examples"
    names = {"train": "train (the demonstration pool)"} if manifest.get("method") == "icl" else {}
    cut = shown_sources(sources)
    rows = []
    for split in sorted(cut, key=lambda name: SPLIT_ORDER.get(name, len(SPLIT_ORDER))):
        n = f"{sizes[split]:,}" if split in sizes else "–"  # a run saved before sizes were kept
        if sizes.get(split) != 0:  # an empty split (no dev file, dev_fraction 0) has no row
            n, scored = _scored_share(manifest, split, n)
            rows.append(f"| {names.get(split, split)} | {n} | {_escaped(cut[split])}{scored} |")
    return ["## Data", "", f"| split | {unit} | from |", "|---|---:|---|", *rows, ""]


def _scored_share(manifest: dict[str, Any], split: str, n: str) -> tuple[str, str]:
    """An icl run scores what ``data_scored`` holds (``--limit``: the first N of a split; dev: only with
    ``--dev``), so its dev and test rows say how much of the split that was; (size, note to its source)."""
    scored = manifest.get("data_scored")
    if scored is None or split == "train":
        return n, ""
    if split not in scored:
        return n, "; not scored"
    first, size = scored[split], manifest["data_sizes"][split]
    return (n, "") if first >= size else (f"{first:,} of {n}", f"; the first {first:,} scored (--limit)")


def _speed_line(cost: dict[str, Any], training: dict[str, Any]) -> str:
    """Tokens/s for runs that trained on tokens; `head` fits on cached features and ICL trains nothing, so a
    tokens/s of 0 would read as a fault: those say what they did instead. Features an earlier run computed
    (``features_cached``) make the train time that of the fit alone, which the line says."""
    if cost.get("train_tokens_per_s"):
        steady = cost.get("steady_train_tokens_per_s")
        return (f"- useful training tokens/s: {cost['train_tokens_per_s']:,.0f}"
                + (f" over the run, {steady:,.0f} between evaluations" if steady else ""))
    if cost.get("trainable_params") and training.get("features_cached"):
        return ("- training: a head fitted on the frozen backbone's features, read from ctxlearn's cache (an earlier "
                "run computed them), so the train time leaves out the backbone's pass over the data")
    if cost.get("trainable_params"):
        return "- training: a head fitted on the frozen backbone's features, computed once (no steps over tokens)"
    return "- training: none (the model is prompted as it is)"


def _cost_lines(manifest: dict[str, Any]) -> list[str]:
    """The run's cost; none for an evaluation (``eval --out``), which trained nothing."""
    if "evaluates" in manifest:
        return []
    cost = manifest.get("cost", {})
    predict_ms = cost.get("predict_ms_per_example")
    return ["## Cost", "",
            f"- trainable parameters: {cost.get('trainable_params', 0):,} of {cost.get('total_params', 0):,} "
            f"({100 * cost.get('trainable_params', 0) / max(1, cost.get('total_params', 1)):.2f}%)",
            f"- train time: {cost.get('train_seconds', 0):.1f} s; wall time: {cost.get('wall_seconds', 0):.1f} s",
            _speed_line(cost, manifest.get("training", {})),
            *([f"- prediction, batched: {predict_ms:.2f} ms per example"] if predict_ms else []),
            f"- peak memory (RSS): {cost.get('peak_rss_mb', 0):,.0f} MB", ""]


def interval(metrics: dict[str, Any]) -> str:
    """The accuracy's 95% interval (``accuracy_low``, ``accuracy_high``) as text."""
    return f"{metrics['accuracy_low']:.3f}-{metrics['accuracy_high']:.3f}"


def _baseline_lines(test: dict[str, Any]) -> list[str]:
    """The majority-class baseline on test, and a warning when the model scores below it."""
    if "majority_accuracy" not in test:  # metrics written before the baseline was kept
        return []
    line = (f"Baseline: always answering `{test['majority_class']}`, the most common test class, scores accuracy "
            f"{test['majority_accuracy']:.4f}.")
    below = below_majority(test) is not None
    return [line + (" **The model scores below it**: it has learned less than how common each class is." if below
                    else ""), ""]


def _threshold_lines(test: dict[str, Any]) -> list[str]:
    """How the labels were decided, when by a threshold; and, for a train run with a rare class, the
    threshold tuned on dev (``evaluate.decision.tuned_threshold``) against the most probable class."""
    if test.get("threshold"):
        rule = test["threshold"]
        return [f"Labels here are decided by a threshold: `{rule['label']}` wherever its probability is at least "
                f"{rule['value']:g}, else the most probable other class.", ""]
    tuned = test.get("tuned_threshold")
    if not tuned:
        return []
    lab, t = tuned["label"], tuned["value"]
    rows = [f"| {rule} | {tuned['dev'][name]['f1']:.3f} | "
            + " | ".join(f"{tuned['test'][name][k]:.3f}" for k in ("precision", "recall", "f1", "accuracy", "macro_f1"))
            + " |" for name, rule in (("argmax", "the most probable class (p ≥ 0.5)"), ("threshold", f"p ≥ {t:g}"))]
    table = [f"| labels `{lab}` where | dev `{lab}` F1 | test `{lab}` precision | recall | F1 | test accuracy | "
             "macro-F1 |", "|---|---:|---:|---:|---:|---:|---:|", *rows, ""]
    share = f"`{lab}` is {100 * tuned['dev_share']:.0f}% of dev."
    if not tuned["better_on_dev"]:
        return ["## Decision threshold", "", f"{share} No threshold on its probability scores `{lab}` F1 on dev a "
                f"point above the most probable class, so keep that; the best, p ≥ {t:g}, against it:", "", *table]
    return ["## Decision threshold", "",
            f"{share} Labelling a text `{lab}` once its probability reaches {t:g}, the threshold with the best `{lab}` "
            "F1 on dev, trades its precision for recall (or back); test shows what that choice is worth on data it "
            "was not tuned on.", "", *table,
            f"To label with it: `ctxlearn predict RUN --input FILE --output FILE --threshold {lab}={t:g}` "
            "(`eval` and `serve` take `--threshold` too).", ""]


ERRORS_SHOWN = 10  # the test errors report.md lists, most confident first
SHOWN_CHARS = 150  # of each one's text


@dataclass(frozen=True)
class ConfidentError:
    """A test example the model got wrong: where it is, its gold label, and what the model said instead."""

    line: int
    text: str
    gold: str
    pred: str
    confidence: float  # the model's probability of ``pred``


def confident_errors(examples: list[Any], probs: np.ndarray, labels: list[str], k: int = ERRORS_SHOWN,
                     pred: np.ndarray | None = None) -> list[ConfidentError]:
    """The ``k`` wrong predictions the model was surest of: where a model is wrong and sure, the gold label
    is often the wrong one (a slip in the data), or the class boundary unclear; either is worth a look.
    ``pred``: the class indices a threshold labelled (``evaluate.decision``), when not the most probable."""
    pred = probs.argmax(1) if pred is None else pred
    wrong = [i for i, ex in enumerate(examples) if labels[int(pred[i])] != ex.label]
    wrong.sort(key=lambda i: -float(probs[i, pred[i]]))
    return [ConfidentError(examples[i].line, _joined(examples[i]), examples[i].label, labels[int(pred[i])],
                      float(probs[i, pred[i]])) for i in wrong[:k]]


def entity_errors(sentences: Sequence[Any], tags: Sequence[Sequence[str]], scores: Sequence[Sequence[float]],
                  k: int = ERRORS_SHOWN) -> tuple[list[ConfidentError], int]:
    """The ``k`` predicted entities the model was surest of that the gold tags lack (no entity there, or one of
    another type or other boundaries), and how many such there are. An entity's confidence is its least sure
    word's probability; its line is its first word's. Where a tagger is wrong and sure, the annotators often
    missed an entity (WNUT-17's gold lacks many)."""
    found = []
    for sentence, pred, probs in zip(sentences, tags, scores):
        gold = entity_spans(sentence.tags)
        for kind, a, b in entity_spans(pred):
            if (kind, a, b) in gold:
                continue
            there = [f"{t}: {' '.join(sentence.tokens[x:y])}" for t, x, y in gold if min(b, y) > max(a, x)]
            found.append(ConfidentError(sentence.lines[a], _marked(sentence.tokens, a, b), "; ".join(there) or "O",
                                        f"{kind}: {' '.join(sentence.tokens[a:b])}", float(min(probs[a:b]))))
    found.sort(key=lambda e: -e.confidence)
    return found[:k], len(found)


def _marked(tokens: Sequence[str], start: int, end: int) -> str:
    """The sentence with tokens ``start:end`` in [brackets], cut to about SHOWN_CHARS around them."""
    span, room = " ".join(tokens[start:end]), max(SHOWN_CHARS // 2 - (end - start) * 4, 20)
    before, after = " ".join(tokens[:start]), " ".join(tokens[end:])
    before = before if len(before) <= room else "…" + before[len(before) - room + 1:]
    after = after if len(after) <= room else after[:room - 1] + "…"
    return " ".join(part for part in (before, f"[{span}]", after) if part)


def _joined(example: Any) -> str:
    return example.text if example.text_pair is None else f"{example.text} / {example.text_pair}"


def _cell(text: str) -> str:
    """``text`` shortened and made safe for a markdown table cell."""
    short = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"
    return _escaped(" ".join(short.split()))


def _escaped(text: str) -> str:
    """``text`` with its pipes escaped, to sit in a markdown table cell."""
    return text.replace("|", "\\|")


CLASS_ERRORS = "A confident error is often a mislabelled example, or a class boundary the data leaves unclear."
ENTITY_ERRORS = ("Predicted entities the gold tags lack (gold `O`: no entity there), or give another type or other "
                 "boundaries, in [brackets]; p is the least sure word's. A sure one is often an entity the "
                 "annotators missed, or a span the guidelines leave unclear.")


def _error_lines(errors: Sequence[ConfidentError], total: int, why: str = CLASS_ERRORS) -> list[str]:
    if not errors:
        return []
    return [f"## Test errors, the surest first ({len(errors)} of {total}; all in test_predictions.jsonl)", "",
            why, "",
            "| line | gold | predicted | p | text |", "|---:|---|---|---:|---|",
            *(f"| {e.line} | {_cell(e.gold)} | {_cell(e.pred)} | {e.confidence:.3f} | {_cell(e.text)} |"
              for e in errors), ""]


def report_markdown(metrics: dict[str, Any], manifest: dict[str, Any], labels: list[str],
                    errors: Sequence[ConfidentError] = ()) -> str:
    test = metrics["test"]
    lines = [*_title(manifest), "| split | n | accuracy | 95% interval | macro-F1 | micro-F1 | ECE |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for split in ("dev", "test"):
        m = metrics.get(split)
        if m:
            lines.append(f"| {split} | {m['n']} | {m['accuracy']:.4f} | {interval(m)} | {m['macro_f1']:.4f} | "
                         f"{m['micro_f1']:.4f} | {m['ece']:.4f} |")
    lines += ["", *_baseline_lines(test), *_warning_lines(manifest), *_data_lines(manifest)]
    lines += ["## Test, per class", "", *_per_class_table(test["per_class"]), "",
              "## Test confusion matrix (rows gold, columns predicted)", "", "```",
              confusion_text(test["confusion"], labels).rstrip(), "```", "", "![confusion](confusion.png)", "",
              *_threshold_lines(test),
              *_calibration_lines(test),
              *_error_lines(errors, test["n"] - sum(row[i] for i, row in enumerate(test["confusion"]))),
              *_cost_lines(manifest)]
    return "\n".join(lines)


def tagging_markdown(metrics: dict[str, Any], manifest: dict[str, Any],
                     errors: tuple[Sequence[ConfidentError], int] = ((), 0)) -> str:
    """The report of a tagging run: entity-level scores (``evaluate.entities``) instead of accuracy."""
    test = metrics["test"]
    lines = [*_title(manifest), "Entity-level scores (seqeval, strict BIO: an entity counts when its type and both "
             "boundaries are right).", "", "| split | sentences | entities | precision | recall | F1 | macro-F1 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for split in ("dev", "test"):
        m = metrics.get(split)
        if m:
            lines.append(f"| {split} | {m['n']} | {m['entities']} | {m['precision']:.4f} | {m['recall']:.4f} | "
                         f"{m['f1']:.4f} | {m['macro_f1']:.4f} |")
    lines += ["", *_warning_lines(manifest), *_data_lines(manifest),
              "## Test, per entity type", "", *_per_class_table(test["per_type"], "type"), "",
              "## Test type confusion (rows gold, columns predicted)", "",
              "Each gold entity is paired with the prediction that overlaps it most; column `none`: no prediction "
              "overlaps it (missed); row `none`: a prediction that overlaps no gold entity (spurious).", "", "```",
              confusion_text(test["confusion"], test["confusion_labels"]).rstrip(), "```", "",
              "![confusion](confusion.png)", "", *_error_lines(*errors, ENTITY_ERRORS), *_cost_lines(manifest)]
    return "\n".join(lines)


def write_report(folder: Path, metrics: dict[str, Any], manifest: dict[str, Any], labels: list[str],
                 errors: Sequence[ConfidentError] = ()) -> None:
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (folder / "confusion.txt").write_text(confusion_text(metrics["test"]["confusion"], labels))
    confusion_png(metrics["test"]["confusion"], labels, folder / "confusion.png",
                  f"{manifest['method']} · test accuracy {metrics['test']['accuracy']:.3f}")
    if metrics["test"].get("reliability"):
        reliability_png(metrics["test"]["reliability"], folder / "reliability.png",
                        f"{manifest['method']} · test ECE {metrics['test']['ece']:.3f}")
    (folder / "report.md").write_text(report_markdown(metrics, manifest, labels, errors))


def write_tagging_report(folder: Path, metrics: dict[str, Any], manifest: dict[str, Any],
                         errors: tuple[Sequence[ConfidentError], int] = ((), 0)) -> None:
    """metrics.json, confusion.txt/.png (entity types) and report.md of a tagging run; ``errors`` as
    ``entity_errors`` gives them."""
    test, labels = metrics["test"], metrics["test"]["confusion_labels"]
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (folder / "confusion.txt").write_text(confusion_text(test["confusion"], labels))
    confusion_png(test["confusion"], labels, folder / "confusion.png",
                  f"{manifest['method']} · test entity F1 {test['f1']:.3f}")
    (folder / "report.md").write_text(tagging_markdown(metrics, manifest, errors))
