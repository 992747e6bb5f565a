"""A learning curve: the comparison run at several numbers of training examples, and which method is best
at which. Which method a few labelled examples favour (a prompted LM, a head on frozen features) need not
be the one more examples favour; the curve shows a user where their data sits, and what labelling more
would buy."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ctxlearn.compare.aggregate import headline
from ctxlearn.errors import ConfigError

CURVE = "learning_curve"  # the curve's files: learning_curve.json and .png, beside report.md
MIN_STEPS = 50  # optimizer steps a gradient-trained method takes at least, at any size of the curve
EVAL_EVERY = 10  # steps between dev evaluations where a small sample's epochs are shorter


def least_epochs(n: int, batch_size: int) -> float:
    """Epochs of ``n`` training examples that make ``MIN_STEPS`` steps of ``batch_size`` (32 examples: 50)."""
    return MIN_STEPS * batch_size / n


def parse_sizes(spec: str) -> list[int]:
    """``--train-sizes 100,500,2000``: positive whole numbers, ascending, each once."""
    try:
        sizes = sorted({int(part) for part in spec.split(",") if part.strip()})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise ConfigError(f"--train-sizes {spec!r}: give numbers of training examples, comma separated, e.g. "
                          "100,500,2000 (a size past the training data's own runs on all of it)")
    return sizes


def point(requested: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One size of the curve: the examples asked for, those the cells trained on (fewer where train holds
    fewer), and each method's row of that size's comparison."""
    used = max((r.get("n_train") or 0 for r in rows), default=0) or requested
    return {"requested": requested, "n_train": used, "methods": rows}


def best_by_size(points: list[dict[str, Any]], rank_by: str) -> list[tuple[int, str, float]]:
    """(training examples, best method, its score) at each size of the curve."""
    out = []
    for p in points:
        key, _ = headline(p["methods"], rank_by)
        best = max(p["methods"], key=lambda r: r[key])
        out.append((p["n_train"], best["method"], best[key]))
    return out


def _cell(row: dict[str, Any] | None, key: str) -> str:
    if row is None:
        return "–"
    mean = f"{100 * row[key]:.1f}"
    return f"{mean} ± {100 * row[key + '_std']:.1f}" if row["seeds"] > 1 else mean


def table(points: list[dict[str, Any]], rank_by: str) -> list[list[str]]:
    """A header (method, then each size) and a row a method: its score at each size, mean ± std over seeds."""
    key, _ = headline(points[0]["methods"], rank_by)
    methods = list(dict.fromkeys(r["method"] for p in points for r in p["methods"]))
    by = [{r["method"]: r for r in p["methods"]} for p in points]
    sizes = [f"{p['n_train']:,}" + (" (all)" if p["n_train"] < p["requested"] else "") for p in points]
    return [["method", *sizes], *([m, *(_cell(b.get(m), key) for b in by)] for m in methods)]


def _texts(points: list[dict[str, Any]], meta: dict[str, Any], rank_by: str) -> tuple[str, str, str, str]:
    """The report's words: what was run, the score, the best method at each size, and what the table holds."""
    name = headline(points[0]["methods"], rank_by)[1]
    how = (f"Each method trained on (icl: drew its demonstrations from) a stratified sample of the training "
           f"examples, the same sample for every method at a size; dev and test are the same at every size. "
           f"Budget `{meta['budget']}`: {meta['budget_help']}; methods trained by gradient steps take at least "
           f"{MIN_STEPS} steps at every size (a small sample is read over more epochs: 32 examples, one batch, "
           f"{MIN_STEPS} times; no early stop before the last), so that a small sample is not also a short run.")
    best = "; ".join(f"{n:,}: {m} ({100 * s:.1f}%)" for n, m, s in best_by_size(points, rank_by))
    held = f"{name}, %, mean ± std over seeds (and folds). Each size's own comparison (cost, recommendation, plots):"
    return how, name, best, held


def markdown(points: list[dict[str, Any]], meta: dict[str, Any], rank_by: str) -> str:
    how, name, best, held = _texts(points, meta, rank_by)
    head, *rows = table(points, rank_by)
    lines = [f"# ctxlearn compare: learning curve on {meta['data']} with {meta['model']}", "", how, "",
             f"**Best at each size** ({name}): {best}.", "",
             "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", f"{held} " + ", ".join(f"[{p['n_train']:,}]({meta['folders'][i]}/report.md)"
                                         for i, p in enumerate(points)) + ".",
              *([meta["note"]] if meta.get("note") else []), "", f"![{CURVE}]({CURVE}.png)", ""]
    return "\n".join(lines)


def html_page(points: list[dict[str, Any]], meta: dict[str, Any], rank_by: str, folder: Path) -> str:
    """The curve as one self-contained page (the plot inlined), as each size's report.html is."""
    from ctxlearn.compare.report import STYLE, img

    how, name, best, held = _texts(points, meta, rank_by)
    head, *rows = table(points, rank_by)
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    links = ", ".join(f'<a href="{meta["folders"][i]}/report.html">{p["n_train"]:,}</a>' for i, p in enumerate(points))
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>ctxlearn learning curve</title>"
            f"<style>{STYLE}</style></head><body><h1>ctxlearn compare: learning curve on "
            f"{html.escape(meta['data'])}</h1><p>{html.escape(how)}</p><p class=rec><b>Best at each size</b> "
            f"({html.escape(name)}): {html.escape(best)}.</p>"
            f"<table><thead><tr>{''.join(f'<th>{html.escape(c)}</th>' for c in head)}</tr></thead><tbody>{cells}"
            f"</tbody></table><p>{html.escape(held)} {links}.</p>"
            + (f"<p>{html.escape(meta['note'])}</p>" if meta.get("note") else "") + img(folder, CURVE)
            + "</body></html>")


def plot(points: list[dict[str, Any]], rank_by: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key, name = headline(points[0]["methods"], rank_by)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for method in dict.fromkeys(r["method"] for p in points for r in p["methods"]):
        xs, ys, errs = [], [], []
        for p in points:
            row = next((r for r in p["methods"] if r["method"] == method), None)
            if row is not None:
                xs.append(p["n_train"])
                ys.append(100 * row[key])
                errs.append(100 * row[key + "_std"])
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=method)
    ax.set_xscale("log")
    ax.set(xlabel="training examples (log scale)", ylabel=f"{name}, %", title=f"{name.removeprefix('test ')} by "
           "number of training examples")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(folder: Path, points: list[dict[str, Any]], meta: dict[str, Any], rank_by: str) -> dict[str, Any]:
    """report.md, report.html, learning_curve.png and learning_curve.json in ``folder``; returns the JSON's
    content."""
    record = {"meta": meta, "rank_by": rank_by, "points": points,
              "best": [{"n_train": n, "method": m, "score": s} for n, m, s in best_by_size(points, rank_by)]}
    plot(points, rank_by, folder / f"{CURVE}.png")
    (folder / f"{CURVE}.json").write_text(json.dumps(record, indent=2, default=str))
    (folder / "report.md").write_text(markdown(points, meta, rank_by))
    (folder / "report.html").write_text(html_page(points, meta, rank_by, folder))
    return record
