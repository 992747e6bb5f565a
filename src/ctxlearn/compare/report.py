"""The comparison report: results.json, report.md and a self-contained report.html (plots inlined)."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from ctxlearn.compare.aggregate import IMBALANCED, headline, size

PLOTS = ("accuracy_vs_params", "accuracy_vs_time", "peak_memory")


def _spread(row: dict[str, Any], key: str, scale: float = 1.0, digits: int = 0) -> str:
    """Mean ± standard deviation over seeds; one seed has no spread to show."""
    mean = f"{scale * row[key]:.{digits}f}"
    return f"{mean} ± {scale * row[key + '_std']:.{digits}f}" if row["seeds"] > 1 else mean


def _pct(row: dict[str, Any], key: str) -> str:
    return _spread(row, key, 100, 1)


def _estimated(row: dict[str, Any], key: str) -> str:
    est = row.get("estimate")
    return f"{est[key]:.0f} / {est['actual_' + key]:.0f}" if est else "–"


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    key, name = headline(rows)
    header = ["method", "seeds", f"{name} %", "macro-F1 %", "trainable params", "% trainable",
              "artifact size", "train s", "peak memory MB", "predict ms/example"]
    body = [[r["method"], runs(r), _pct(r, key), _pct(r, "test_macro_f1"),
             f"{r['trainable_params']:,}", f"{100 * r['trainable_params'] / max(1, r['total_params']):.3f}",
             size(r["artifact_mb"]), _spread(r, "train_seconds"),
             f"{r['peak_rss_mb']:.0f}", f"{r['predict_ms_per_example']:.2f}"] for r in rows]
    if any("estimate" in r for r in rows):
        header += ["s/epoch est. / actual", "peak MB est. / actual"]
        for line, r in zip(body, rows):
            line += [_estimated(r, "epoch_seconds"), _estimated(r, "peak_rss_mb")]
    return [header, *body]


def runs(row: dict[str, Any]) -> str:
    """A method's runs: its seeds, or under --folds its folds (times its seeds)."""
    if not row.get("folds"):
        return str(row["seeds"])
    seeds = row["seeds"] // row["folds"]
    return f"{seeds} x {row['folds']} folds" if seeds > 1 else f"{row['folds']} folds"


def notes(rows: list[dict[str, Any]], rec: dict[str, Any] | None = None) -> list[str]:
    """Caveats a reader needs next to the table: test sets of another size (icl's budget limit), the
    majority-class baseline (and, on imbalanced classes ranked by accuracy, that macro-F1 may rank them
    better), seeds that repeat an earlier seed's run (their spread is zero by construction), and a features
    method whose every cell read its features from the cache (its train time leaves their pass out)."""
    sizes = {r["method"]: r.get("n_test") for r in rows}
    usual = max((n for n in sizes.values() if n), default=None)
    short = [f"{m} was scored on the first {n} test examples only (the others on {usual})."
             for m, n in sizes.items() if n and usual and n != usual]
    repeats = [f"{r['method']}: {r['repeated_seeds']} of its {r['seeds']} seeds repeat the first one's run, not "
               "scored again: its demonstrations are the nearest ones in a fixed order (nothing is drawn) and "
               "every seed gets the same splits, so its ± is zero by construction."
               for r in rows if r.get("repeated_seeds")]
    cached = [f"{r['method']}'s features were read from ctxlearn's cache, where an earlier run computed them: its "
              "train s is the fit alone and leaves out the backbone's pass over the data, which a first run pays."
              for r in rows if r.get("features_cached")]
    return short + _baseline(rows, _score(rows, rec)) + repeats + cached


def _score(rows: list[dict[str, Any]], rec: dict[str, Any] | None) -> str:
    """The score the recommendation ranked by (a comparison from before it was kept: the headline's)."""
    return (rec or {}).get("score") or headline(rows)[0]


def _baseline(rows: list[dict[str, Any]], score: str = "test_accuracy") -> list[str]:
    """The accuracy of always answering the most common test class, and the methods below it (each against
    its own test split's: icl's may be a part of it); where that class holds most of test and methods are
    ranked by accuracy, that macro-F1 weighs every class alike."""
    base = max((r for r in rows if r.get("majority_accuracy") is not None), key=lambda r: r.get("n_test") or 0,
               default=None)
    if base is None:
        return []
    below = [r["method"] for r in rows if r.get("majority_accuracy") is not None
             and r["test_accuracy"] < r["majority_accuracy"]]
    verdict = (f"below it: {', '.join(below)}, which learned less than how common each class is" if below
               else "every method beats it")
    skewed = (" With one class that common, accuracy rewards answering it: --rank-by macro_f1 ranks by macro-F1, "
              "which weighs every class alike." if base["majority_accuracy"] >= IMBALANCED and score == "test_accuracy"
              else "")
    answer = (f"each fold's most common test class (`{base['majority_class']}`) scores accuracy "
              f"{100 * base['majority_accuracy']:.1f}% over the {base.get('n_test') or 0:,} examples the folds test"
              if base.get("folds") else f"`{base['majority_class']}`, the most common test class, scores accuracy "
              f"{100 * base['majority_accuracy']:.1f}%")
    return [f"Always answering {answer}: {verdict}.{skewed}"]


ROLE_COLOURS = {"best": "#2a9d55", "cheapest": "#e07b00", "other": "#4c72b0"}


def roles(rows: list[dict[str, Any]], rec: dict[str, Any]) -> list[str]:
    """Each method's part in the recommendation, which the plots colour: best, cheapest within, other."""
    return ["best" if r["method"] == rec.get("best") else "cheapest" if r["method"] == rec.get("cheapest_within")
            else "other" for r in rows]


def _scatter(ax: Any, xs: list[float], rows: list[dict[str, Any]], rec: dict[str, Any]) -> None:
    """Accuracy ± std against one cost, coloured by role, with the band the recommendation searched."""
    score = _score(rows, rec)
    acc = [100 * r[score] for r in rows]
    best = max(acc)
    ax.axhspan(best - 100 * rec.get("within", 0.01), best, color=ROLE_COLOURS["best"], alpha=0.08,
               label=f"within {100 * rec.get('within', 0.01):.0f} point of the best")
    for x, y, r, role in zip(xs, acc, rows, roles(rows, rec)):
        ax.errorbar([x], [y], yerr=[100 * r[f"{score}_std"]], fmt="o", capsize=3, color=ROLE_COLOURS[role])
        name = r["method"] + (" (trains nothing)" if r["trainable_params"] == 0 else "")
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9, color=ROLE_COLOURS[role])
    ax.margins(x=0.12, y=0.08)
    ax.grid(alpha=0.3)
    top = "best by macro-F1" if score == "test_macro_f1" else "most accurate"
    for role, text in (("best", top), ("cheapest", "cheapest within reach of it")):
        ax.plot([], [], "o", color=ROLE_COLOURS[role], label=text)  # legend entries only
    ax.legend(loc="lower right", fontsize=8)


def make_plots(rows: list[dict[str, Any]], rec: dict[str, Any], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    label = rec.get("score_name") or headline(rows)[1]
    for name, key, xlabel, log in (("accuracy_vs_params", "trainable_params", "trainable parameters (log scale)", True),
                                   ("accuracy_vs_time", "train_seconds", "train time, seconds", False)):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        _scatter(ax, [max(1, r[key]) if log else r[key] for r in rows], rows, rec)
        ax.set_xscale("log" if log else "linear")
        ax.set(xlabel=xlabel, ylabel=f"{label}, %", title=f"{label.removeprefix('test ')} vs {xlabel.split(',')[0].split(' (')[0]}")
        fig.tight_layout()
        fig.savefig(folder / f"{name}.png", dpi=100)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.bar([r["method"] for r in rows], [r["peak_rss_mb"] for r in rows],
           color=[ROLE_COLOURS[role] for role in roles(rows, rec)])
    ax.set(ylabel="peak memory (RSS), MB", title="peak memory per method")
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    fig.savefig(folder / "peak_memory.png", dpi=100)
    plt.close(fig)


def wall_line(meta: dict[str, Any]) -> str:
    """The cells' time: that of their processes where every cell ran now (what the progress lines add up to),
    else that of their runs alone, which leaves out each process's start-up (Python, torch, the model)."""
    cells, whole = meta.get("cells", 0), meta.get("cells_process_seconds")
    runs = meta.get("cells_wall_seconds", 0.0) / 60
    some = "The cell" if cells == 1 else f"The {cells} cells"
    if whole is None:
        return (f"{some} took {runs:.1f} min of wall time in {'its run' if cells == 1 else 'their runs'}, each in its "
                "own process (the processes' start-up not counted).")
    return (f"{some} took {whole / 60:.1f} min in all, each in its own process ({runs:.1f} min of it in "
            f"{'its run' if cells == 1 else 'their runs'}, the rest starting {'it' if cells == 1 else 'them'}).")


def warning_lines(meta: dict[str, Any]) -> list[str]:
    """The cells' warnings (``meta["warnings"]``: each with the cells that gave it), each once: a warning of the
    data comes from every cell, and says nothing of which method is best."""
    given, cells = meta.get("warnings") or {}, meta.get("cells", 0)
    return [note + ("" if len(names) == cells else f" ({', '.join(names)})") for note, names in given.items()]


def markdown(rows: list[dict[str, Any]], rec: dict[str, Any], meta: dict[str, Any]) -> str:
    t = table_rows(rows)
    lines = [f"# ctxlearn compare: {meta['data']} with {meta['model']}", "",
             f"Budget `{meta['budget']}`: {meta['budget_help']}. Same splits for every method.", "",
             wall_line(meta), "",
             f"**Recommendation.** {rec['text']}", "",
             "| " + " | ".join(t[0]) + " |", "|" + "---|" * len(t[0])]
    lines += ["| " + " | ".join(r) + " |" for r in t[1:]]
    caveats = notes(rows, rec)
    lines += ["", *caveats] if caveats else []
    said = warning_lines(meta)
    lines += ["", f"## Warnings the cells gave ({len(said)})", "", *(f"- {w}" for w in said)] if said else []
    lines += ["", *[f"![{p}]({p}.png)" for p in PLOTS], ""]
    return "\n".join(lines)


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}"
         "td:first-child,th:first-child{text-align:left}.rec{background:#eef6ee;padding:1em;border-radius:6px}"
         "figure{display:inline-block;margin:0.5em}img{max-width:520px}")  # every page's, plots inlined


def img(folder: Path, name: str) -> str:
    data = base64.b64encode((folder / f"{name}.png").read_bytes()).decode()
    return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"></figure>'


def html_page(rows: list[dict[str, Any]], rec: dict[str, Any], meta: dict[str, Any], folder: Path) -> str:
    t = table_rows(rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in t[1:])
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>ctxlearn compare</title>"
            f"<style>{STYLE}</style></head><body><h1>ctxlearn compare: {html.escape(meta['data'])}</h1>"
            f"<p>Model <code>{html.escape(meta['model'])}</code>; budget <code>{meta['budget']}</code>: "
            f"{html.escape(meta['budget_help'])}. Every method saw the same splits; each cell is mean ± std over "
            "seeds (and folds). "
            f"{html.escape(wall_line(meta))}</p>"
            f"<p class=rec><b>Recommendation.</b> {html.escape(rec['text'])}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            + "".join(f"<p>{html.escape(n)}</p>" for n in notes(rows, rec))
            + (f"<h2>Warnings the cells gave</h2><ul>{''.join(f'<li>{html.escape(w)}</li>' for w in said)}</ul>"
               if (said := warning_lines(meta)) else "") +
            f"<h2>Accuracy against cost</h2>{''.join(img(folder, p) for p in PLOTS)}</body></html>")


def write(folder: Path, rows: list[dict[str, Any]], cells: list[dict[str, Any]], rec: dict[str, Any],
          meta: dict[str, Any]) -> None:
    make_plots(rows, rec, folder)
    (folder / "results.json").write_text(json.dumps({"meta": meta, "methods": rows, "cells": cells,
                                                     "recommendation": rec}, indent=2, default=str))
    (folder / "report.md").write_text(markdown(rows, rec, meta))
    (folder / "report.html").write_text(html_page(rows, rec, meta, folder))
