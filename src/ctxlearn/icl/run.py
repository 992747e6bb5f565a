"""One in-context learning run: data -> causal LM -> prompts -> scores -> report and artifact, in the
shape training writes (metrics.json, report.md, confusion.png, manifest.json, config.yaml,
labels.json, test_predictions.jsonl), plus icl.json: model reference, prompt spec, selection,
calibration, and the demonstrations (shared selectors) or the pool they are drawn from (pool.jsonl)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import resource
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ctxlearn.artifact import RUN, check_out, versions, weights_sha256, write_atomically
from ctxlearn.cache import cached_array
from ctxlearn.config import default_out, other_run_note, save_yaml, to_dict
from ctxlearn.data import Example, Splits
from ctxlearn.data.inspect import label_warnings, small_split
from ctxlearn.data.splits import require_split, split_sizes, splits_of
from ctxlearn.data.tagged_splits import is_tagging_data
from ctxlearn.errors import ConfigError
from ctxlearn.evaluate import classification_metrics, write_report
from ctxlearn.evaluate.decision import tuned_threshold
from ctxlearn.evaluate.metrics import below_majority, only_class
from ctxlearn.icl.calibrate import CONTENT_FREE
from ctxlearn.icl.classifier import IclClassifier, IclResult, Keep
from ctxlearn.icl.config import IclConfig
from ctxlearn.icl.prompt import PromptSpec, resolve_prompt
from ctxlearn.icl.select import SELECTORS, select
from ctxlearn.lock import holds_out
from ctxlearn.models import ModelSource, load_causal_lm, resolve_model
from ctxlearn.models.infer import bf16_available
from ctxlearn.models.registry import SCRATCH_TYPE
from ctxlearn.tasks.classification import write_scored
from ctxlearn.threads import on_own_threads
from ctxlearn.train.dist import part_progress, recorded_warnings, say, warn
from ctxlearn.train.resume import work_folder


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_bf16(flag: str) -> bool:
    """``on``, ``off`` or ``auto`` (on where the device has fast bf16) -> whether to use bf16 weights."""
    if flag == "on" and not bf16_available(device()):
        raise ConfigError("bf16 is on, but this machine has no fast bf16 (needs AVX512-BF16/AMX or a bf16 GPU); use --bf16 off")
    return flag == "on" or (flag == "auto" and bf16_available(device()))


def load_lm(source: ModelSource, bf16: bool = False) -> tuple[torch.nn.Module, Any]:
    """(causal LM in eval mode on the best device, in bf16 or fp32, and its tokenizer)."""
    if source.kind in ("encoder", "seq2seq"):
        what = "an encoder" if source.kind == "encoder" else "an encoder-decoder"
        raise ConfigError(f"{source.name} is {what}; in-context learning needs a causal LM (e.g. --model smollm2)")
    model, tokenizer = load_causal_lm(source)
    return model.to(device(), torch.bfloat16 if bf16 else torch.float32).eval(), tokenizer


def build_classifier(cfg: IclConfig, model: torch.nn.Module, tokenizer: Any, labels: list[str], spec: PromptSpec,
                     pool: list[Example], *, select_name: str, shots: int, order: str,
                     per_query: bool = False) -> IclClassifier:
    """The classifier ``cfg`` describes, over ``pool`` (similarity selectors get the sentence encoder);
    ``per_query`` as :class:`IclClassifier` takes it."""
    embed = None
    if SELECTORS.get(select_name).ranked:
        from ctxlearn.icl.embed import Embedder

        embed = Embedder(cfg.encoder)
    return IclClassifier(model, tokenizer, labels, spec, pool, select=select_name, shots=shots, order=order,
                         seed=cfg.seed, calibrate=cfg.calibrate, embed=embed, max_context=cfg.max_context,
                         batch_tokens=cfg.batch_tokens, per_query=per_query)


def warn_context(result: IclResult, split: str, n_demos: int, max_context: int) -> None:
    if result.shortened:
        warn(f"{split}: {result.shortened} of {len(result.demos)} prompts exceeded the context ({max_context} tokens): "
             f"dropped {result.dropped} of their {n_demos * result.shortened} demonstrations (never the query)")
    if result.cut:
        warn(f"{split}: {result.cut} queries exceed the context on their own and were cut from the left")


def warn_one_answer(split: str, one: int | None, labels: list[str], calibrated: bool) -> None:
    """Say so when the LM gave one label (index ``one``) to every example of a split that holds several: its
    bias toward that label's words outweighed the demonstrations."""
    if one is None:
        return
    fix = ("other label words (--verbalizer), more --shots or another --prompt" if calibrated else
           "--calibrate divides out such a bias; other label words (--verbalizer) or more --shots may help too")
    warn(f"{split}: the LM answered {labels[one]!r} for every example, whatever the text: {fix}")


def warn_below_majority(split: str, metrics: dict[str, Any], calibrated: bool, select: str = "") -> None:
    """Say so when a split's accuracy is below always answering its most common class (SMS spam, 4 shots
    uncalibrated: 0.22 against 0.85), with what may lift it (not what the run already did: ``select``)."""
    below = below_majority(metrics)
    if below:
        knn = "" if select.startswith("knn") else " or --select knn"
        fix = (f"other label words (--verbalizer), more --shots{knn}" if calibrated else
               "--calibrate divides out the LM's bias toward some labels' words")
        warn(f"{split}: {below}: {fix}")


def ordered_by_label(split: str, examples: list[Example], limit: int) -> str | None:
    """``--limit N`` scores a split's first N examples (lm-eval's rule); a file ordered by label loses whole
    classes to it. Said where a class of which N random examples would hold 5 or more has none there."""
    if not 0 < limit < len(examples):
        return None
    counts, seen = Counter(ex.label for ex in examples), {ex.label for ex in examples[:limit]}
    missing = sorted(label for label, n in counts.items() if label not in seen and n * limit >= 5 * len(examples))
    if not missing:
        return None
    shares = ", ".join(f"{label!r} ({counts[label] / len(examples):.0%} of the split)" for label in missing)
    return (f"{split}: --limit {limit} scores the first {limit} of {len(examples)} examples, which hold no {shares}: "
            "the file looks ordered by label; shuffle it (header kept first) or score it all (--limit 0)")


@on_own_threads
@holds_out
def run_icl(cfg: IclConfig) -> dict[str, Any]:
    """Score test (and dev with ``cfg.dev``) by in-context learning and write the run folder ``cfg.out``; the
    warnings given on the way are kept in the manifest, and report.md lists them."""
    with recorded_warnings() as notes:
        return _run_icl(cfg, notes)


def _run_icl(cfg: IclConfig, notes: list[str]) -> dict[str, Any]:
    start = time.time()
    check_out(cfg.out, reads=cfg.data, writes=RUN)  # a builtin:NAME is no path: check_out passes it over
    if note := other_run_note(cfg.out, default_out(cfg.data, "icl")):
        say(note)
    if is_tagging_data(cfg.data, cfg.text_field, cfg.label_field):
        raise ConfigError(f"icl labels whole texts (classification), and {cfg.data} holds tagging data; "
                          "tag it with a trained model: ctxlearn train --data ... --method lora")
    splits = splits_of(cfg, cfg.seed).cap_train(cfg.max_train, cfg.seed)
    require_split(splits, "test", "an icl run reports its scores on test")
    if cfg.dev:
        require_split(splits, "dev", "--dev asks for scores on dev")
    spec = resolve_prompt(cfg.prompt, splits.is_pair, template=cfg.template, instruction=cfg.instruction,
                          verbalizer=cfg.verbalizer)
    spec.check(splits.labels, splits.is_pair, f"prompt {cfg.prompt!r}")
    limited = f" (--limit: the first {cfg.limit} only)" if 0 < cfg.limit < len(splits.test) else ""
    say(f"data: train {len(splits.train)} (demonstration pool), test {len(splits.test)}{limited}; "
        f"labels {splits.labels}")
    small = small_split("test", min(cfg.limit or len(splits.test), len(splits.test)))
    past = (f"--shots {cfg.shots}: the demonstration pool (train) holds {len(splits.train)} examples; each prompt "
            f"shows at most {len(splits.train)}" if cfg.shots > len(splits.train) else None)
    scored = ("test", "dev") if cfg.dev else ("test",)
    ordered = [ordered_by_label(split, getattr(splits, split), cfg.limit) for split in scored]
    for msg in [*label_warnings(splits.labels), spec.meaningless(splits.labels), small, past, *ordered]:
        if msg:
            warn(msg)
    source = resolve_model(cfg.model)
    bf16 = resolve_bf16(cfg.bf16)
    model, tokenizer = load_lm(source, bf16)
    if model.config.model_type == SCRATCH_TYPE:
        from ctxlearn.scratch.pretrain import warn_if_weak

        warn_if_weak(cfg.model, source.path)
    clf = build_classifier(cfg, model, tokenizer, splits.labels, spec, splits.train, select_name=cfg.select,
                           shots=cfg.shots, order=cfg.order)
    work, weights = work_folder(cfg), weights_sha256(source.path)
    keep = kept_parts(work / "scores", weights, bf16)
    t0 = time.time()
    results: dict[str, tuple[list[Example], IclResult]] = {}
    for split in scored:
        examples = getattr(splits, split)[:cfg.limit or None]
        results[split] = examples, predict_in_parts(clf, examples, split, keep)
        warn_context(results[split][1], split, clf.shots, clf.max_context)
    infer_s = time.time() - t0
    gold = {split: _gold(exs, splits.labels) for split, (exs, _) in results.items()}
    metrics = {split: classification_metrics(gold[split], res.probs, splits.labels)
               for split, (_, res) in results.items()}
    for split, (_, res) in results.items():
        one = only_class(res.probs, gold[split])
        warn_one_answer(split, one, splits.labels, cfg.calibrate)
        if one is None:  # answering one class was said already
            warn_below_majority(split, metrics[split], cfg.calibrate, cfg.select)
    if "dev" in results:  # a rare class's threshold, tuned on dev's probabilities as a trained run's is
        tuned = tuned_threshold(gold["dev"], results["dev"][1].probs, gold["test"], results["test"][1].probs,
                                splits.labels)
        if tuned:
            metrics["test"]["tuned_threshold"] = tuned
    manifest = _manifest(cfg, splits, source, weights, bf16, model, start, infer_s,
                         {split: len(exs) for split, (exs, _) in results.items()})
    manifest["warnings"] = list(notes)
    icl = icl_record(cfg, clf, splits, source, results["test"][1])
    out = write_atomically(Path(cfg.out), lambda tmp: _fill(tmp, cfg, splits, metrics, manifest, icl, results, clf),
                           writes=RUN)
    shutil.rmtree(work, ignore_errors=True)
    say(f"test accuracy {metrics['test']['accuracy']:.4f}, macro-F1 {metrics['test']['macro_f1']:.4f}; wrote {out}")
    return icl_summary(metrics, manifest, out)


def _gold(examples: list[Example], labels: list[str]) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(labels)}
    return np.array([index[ex.label] for ex in examples], dtype=int)


def icl_summary(metrics: dict[str, Any], manifest: dict[str, Any], out: Path) -> dict[str, Any]:
    """The keys ``train --json`` prints (dev_* are null unless dev was scored), plus examples/s."""
    res: dict[str, Any] = {"out": str(out), "method": manifest["method"], "model": manifest["model"]}
    for split in ("dev", "test"):
        for key in ("accuracy", "macro_f1", "micro_f1", "ece"):
            res[f"{split}_{key}"] = metrics[split][key] if split in metrics else None
    cost = manifest["cost"]
    res.update({k: cost[k] for k in ("trainable_params", "total_params", "train_seconds", "wall_seconds", "peak_rss_mb",
                                     "inference_seconds", "examples_per_s")})
    res["warnings"] = manifest.get("warnings", [])
    return res


def _manifest(cfg: IclConfig, splits: Splits, source: ModelSource, weights_sha: str, bf16: bool, model: torch.nn.Module,
              start: float, infer_s: float, scored: dict[str, int]) -> dict[str, Any]:
    n_scored = sum(scored.values())
    return {
        "ctxlearn_manifest": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "data": cfg.data, "model": cfg.model, "method": "icl", "seed": cfg.seed, "bf16": bf16,
        "model_source": dataclasses.asdict(source), "base_weights_sha256": weights_sha,
        "labels": splits.labels, "data_sources": splits.sources, "data_sha256": splits.hashes,
        "data_sizes": split_sizes(splits), "split_copies": splits.copies,
        "data_scored": scored,  # --limit, --dev: what the scores are of
        "text_pairs": splits.is_pair,  # what predict and serve must be given
        "versions": versions(),
        "cost": {"trainable_params": 0, "total_params": sum(p.numel() for p in model.parameters()),
                 "train_seconds": 0.0, "wall_seconds": time.time() - start, "train_tokens_per_s": 0.0,
                 "inference_seconds": infer_s, "examples_per_s": n_scored / infer_s if infer_s else 0.0,
                 "predict_ms_per_example": 1000 * infer_s / max(1, n_scored),
                 "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
    }


# Fewest queries scored between two progress lines. Queries with demonstrations of their own (knn,
# random-each): about 20 s of 4-shot scoring on 2 AVX2 cores. Shared demonstrations run from one cached
# prefix, about 5x faster a query, and each part has a fixed cost: 300 SST-2 queries scored in 14.5 s in
# parts of 256, 17.2 s in parts of 64. Per-query ones show no such cost: 300 SST-2 queries, random-each,
# 84 and 89 s in parts of 256, 92 s in parts of 128, 89 s in parts of 64.
PART = 64
SHARED_PART = 256
PARTS = 30  # most progress lines for one split: a larger split has larger parts


def part_size(shared: bool, n: int = 0) -> int:
    """Queries per part for ``n`` queries whose demonstrations are ``shared`` by all or not."""
    return max(SHARED_PART if shared else PART, -(-n // PARTS))


def predict_in_parts(clf: IclClassifier, examples: list[Example], split: str, keep: Keep | None = None) -> IclResult:
    """``clf.predict`` in at most about ``PARTS`` parts, with a progress line and ETA after each: scoring a test
    set takes minutes on a CPU. Parts change no prompt and no query's scores (``IclClassifier.predict``);
    ``keep`` stores each part's scores as it is done (``kept_parts``)."""
    start = time.time()

    def report(done: int, kept: int) -> None:
        say(f"{split}: {part_progress(done, len(examples), kept, time.time() - start, 'scored', 'OUT.partial')}")

    shared = SELECTORS.get(clf.select).shared
    return clf.predict(examples, part=part_size(shared, len(examples)), report=report, keep=keep)


def kept_parts(folder: Path, model_sha256: str, bf16: bool) -> Keep:
    """Each scored part's scores, saved in ``folder`` (OUT.partial) under a key of the model's weights,
    its precision and the part's prompts: rerunning an interrupted run reads the parts it had scored,
    and a part of other prompts, or scored by another model, is never read for this one."""
    def keep(part_key: str, score: Callable[[], np.ndarray]) -> np.ndarray:
        key = hashlib.sha256(f"{model_sha256}|{bf16}|{part_key}".encode()).hexdigest()[:32]
        return cached_array(key, score, folder=folder)

    return keep


def example_dict(ex: Example) -> dict[str, Any]:
    row = {"text": ex.text, "label": ex.label}
    if ex.text_pair is not None:
        row["text_pair"] = ex.text_pair
    return row


def icl_record(cfg: IclConfig, clf: IclClassifier, splits: Splits, source: ModelSource, test: IclResult) -> dict[str, Any]:
    """icl.json: everything needed to label new data the same way, and what the run saw."""
    shared = SELECTORS.get(cfg.select).shared
    record: dict[str, Any] = {
        "model": {"name": cfg.model, "source": dataclasses.asdict(source)},
        "prompt": clf.spec.to_dict(),
        "verbalizer_tokens": {lab: list(v) for lab, v in zip(clf.labels, clf.verbalizers)},
        "selection": {"select": cfg.select, "shots": clf.shots, "order": cfg.order, "seed": cfg.seed,
                      "shared": shared, "encoder": cfg.encoder if SELECTORS.get(cfg.select).ranked else None},
        "calibration": {"calibrate": cfg.calibrate, "content_free": list(CONTENT_FREE) if cfg.calibrate else [],
                        "bias": _bias_summary(clf.labels, test)},
        "context": {"max_context": clf.max_context, "mean_prompt_tokens": test.prompt_tokens,
                    "prompts_shortened": test.shortened, "demonstrations_dropped": test.dropped, "queries_cut": test.cut},
    }
    if shared:
        chosen = select(cfg.select, splits.train, splits.test[:1], cfg.shots, cfg.seed, cfg.order)[0]
        record["demonstrations"] = [example_dict(splits.train[j]) for j in chosen]
    else:
        record["pool"] = "pool.jsonl"
    return record


def _bias_summary(labels: list[str], result: IclResult) -> dict[str, Any] | None:
    """The estimated label bias p_cf: one vector when demonstrations are shared, else the mean and
    spread over the queries."""
    if result.bias is None or not len(result.bias):
        return None
    mean, std = result.bias.mean(0), result.bias.std(0)
    return {"p_cf": dict(zip(labels, map(float, mean))), "std_over_queries": dict(zip(labels, map(float, std)))}


def _fill(folder: Path, cfg: IclConfig, splits: Splits, metrics: dict[str, Any], manifest: dict[str, Any],
          icl: dict[str, Any], results: dict[str, tuple[list[Example], IclResult]], clf: IclClassifier) -> None:
    examples, test = results["test"]
    with (folder / "test_demonstrations.jsonl").open("w", encoding="utf-8") as fh:
        for ex, demos, raw in zip(examples, test.demos, test.raw):
            fh.write(json.dumps({"line": ex.line, "demos": demos, "uncalibrated_probs": [float(v) for v in raw]}) + "\n")
    if "pool" in icl:
        with (folder / "pool.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(example_dict(ex), ensure_ascii=False) + "\n" for ex in splits.train)
    save_yaml(to_dict(cfg), folder / "config.yaml")
    (folder / "labels.json").write_text(json.dumps(splits.labels))
    (folder / "icl.json").write_text(json.dumps(icl, indent=2, ensure_ascii=False))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    write_scored(folder, examples, test.probs, metrics, manifest, splits.labels)
    with (folder / "report.md").open("a", encoding="utf-8") as fh:
        fh.write(icl_markdown(icl, splits.labels, manifest["cost"]))


def icl_markdown(icl: dict[str, Any], labels: list[str], cost: dict[str, Any]) -> str:
    """The report's in-context learning section: selection, calibration, context, speed, prompt, bias."""
    s, c, ctx = icl["selection"], icl["calibration"], icl["context"]
    spec = PromptSpec(**icl["prompt"])
    selection = f"`{s['select']}`, k = {s['shots']}, order `{s['order']}`, seed {s['seed']}"
    selection += f", encoder `{s['encoder']}`" if s["encoder"] else ""
    selection += " (shared by every query: their cache is computed once)" if s["shared"] else " (per query)"
    calibration = "contextual, content-free inputs " + ", ".join(map(repr, c["content_free"])) if c["calibrate"] else "none"
    bias = (c["bias"] or {}).get("p_cf", {})
    lines = ["", "## In-context learning", "", f"- selection: {selection}", f"- calibration: {calibration}",
             f"- context: {ctx['max_context']} tokens, mean prompt {ctx['mean_prompt_tokens']:.0f}; "
             f"{ctx['prompts_shortened']} prompts lost {ctx['demonstrations_dropped']} demonstrations; "
             f"{ctx['queries_cut']} queries cut",
             f"- scoring: {cost['examples_per_s']:.2f} examples/s ({cost['inference_seconds']:.1f} s)", "",
             "Prompt (each demonstration, then the query):", "", "```",
             (spec.instruction + spec.demo_separator if spec.instruction else "") + spec.template, "```", "",
             "| label | words | estimated bias p_cf |", "|---|---|---:|"]
    for lab in labels:
        lines.append(f"| {lab} | {spec.words(lab)!r} | " + (f"{bias[lab]:.3f} |" if lab in bias else "– |"))
    return "\n".join(lines) + "\n"
