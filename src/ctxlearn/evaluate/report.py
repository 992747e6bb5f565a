"""Report files for one run: metrics.json, confusion.txt/.png and a readable report.md."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def confusion_text(matrix: list[list[int]], labels: list[str]) -> str:
    width = max(6, *(len(lab) for lab in labels))
    head = "gold \\ pred".ljust(width + 2) + " ".join(lab[:width].rjust(width) for lab in labels)
    rows = [lab.ljust(width + 2) + " ".join(str(v).rjust(width) for v in row) for lab, row in zip(labels, matrix)]
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


def _per_class_table(per_class: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for lab, m in per_class.items():
        lines.append(f"| {lab} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    return lines


def report_markdown(metrics: dict[str, Any], manifest: dict[str, Any], labels: list[str]) -> str:
    test = metrics["test"]
    cost = manifest.get("cost", {})
    lines = [f"# ctxlearn run: {manifest['method']} on {manifest['data']}", "",
             f"Model `{manifest['model']}`, method `{manifest['method']}`, seed {manifest['seed']}.", "",
             "| split | n | accuracy | macro-F1 | micro-F1 | ECE |", "|---|---:|---:|---:|---:|---:|"]
    for split in ("dev", "test"):
        m = metrics.get(split)
        if m:
            lines.append(f"| {split} | {m['n']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['micro_f1']:.4f} | {m['ece']:.4f} |")
    lines += ["", "## Test, per class", "", *_per_class_table(test["per_class"]), "",
              "## Test confusion matrix (rows gold, columns predicted)", "", "```",
              confusion_text(test["confusion"], labels).rstrip(), "```", "", "![confusion](confusion.png)", "",
              "## Cost", "",
              f"- trainable parameters: {cost.get('trainable_params', 0):,} of {cost.get('total_params', 0):,} "
              f"({100 * cost.get('trainable_params', 0) / max(1, cost.get('total_params', 1)):.2f}%)",
              f"- train time: {cost.get('train_seconds', 0):.1f} s; wall time: {cost.get('wall_seconds', 0):.1f} s",
              f"- useful training tokens/s: {cost.get('train_tokens_per_s', 0):,.0f}",
              f"- peak memory (RSS): {cost.get('peak_rss_mb', 0):,.0f} MB", ""]
    return "\n".join(lines)


def write_report(folder: Path, metrics: dict[str, Any], manifest: dict[str, Any], labels: list[str]) -> None:
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (folder / "confusion.txt").write_text(confusion_text(metrics["test"]["confusion"], labels))
    confusion_png(metrics["test"]["confusion"], labels, folder / "confusion.png",
                  f"{manifest['method']} · test accuracy {metrics['test']['accuracy']:.3f}")
    (folder / "report.md").write_text(report_markdown(metrics, manifest, labels))
