"""The gradient-step path, on transformers' Trainer: length-grouped dynamic batches, warmup and
linear decay, evaluation on dev each epoch with early stopping, best checkpoint kept, TensorBoard
logs, a progress bar with ETA (plain progress lines where stderr is a log, not a terminal), and exact
resume (model, optimizer, schedule, RNG states and early stopping's count; a training that had ended
is not trained again).
Trainer also runs unchanged under torchrun / accelerate launch, which is how distributed training
slots in."""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
import time

from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import ExportableState, PrinterCallback

from ctxlearn.models.embedding import clip_grad_norm
from ctxlearn.tasks import TASKS, Task
from ctxlearn.train import dist
from ctxlearn.train.dist import say, so_far, warn
from ctxlearn.train.encode import Encoded
from ctxlearn.train.loss import class_weights, training_loss
from ctxlearn.train.memory import settled_rss_mb
from ctxlearn.train.order import EpochOrder
from ctxlearn.train.resume import FINISHED, cut_off, last_checkpoint, read_json, write_json
from ctxlearn.train.stop import StopAtStep, Stopped, listening


class StepClock(TrainerCallback):
    """Seconds spent in training steps, measured step end to step end (data collation included) but
    leaving out intervals that contain an evaluation or a checkpoint save, and the first step. Each
    counted step is kept as (seconds, useful tokens), and the last save's seconds as ``save_seconds``."""

    def __init__(self) -> None:
        self._last, self._skip, self._tokens = None, True, 0
        self.timed: list[tuple[float, int]] = []
        self.save_seconds = 0.0

    @property
    def seconds(self) -> float:
        return sum(t for t, _ in self.timed)

    @property
    def steps(self) -> int:
        return len(self.timed)

    def steady_tokens_per_s(self, tokens: int, global_step: int) -> float | None:
        """Tokens per second over the counted steps, taking the run's mean tokens per step."""
        return tokens / global_step * self.steps / self.seconds if self.seconds else None

    def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
        now = time.perf_counter()
        if self._last is not None and not self._skip:
            self.timed.append((now - self._last, state.num_input_tokens_seen - self._tokens))
        self._last, self._skip, self._tokens = now, False, state.num_input_tokens_seen

    def on_evaluate(self, args, state, control, **kw):  # noqa: ANN001
        self._skip = True

    def on_save(self, args, state, control, **kw):  # noqa: ANN001
        if self._last is not None:
            self.save_seconds = time.perf_counter() - self._last
        self._skip = True


class LogLines(TrainerCallback):
    """Progress as plain lines where stderr is no terminal (a log file, a compare cell's log, CI), in place
    of the progress bar, whose redraws pile up there: at each logging step the step, epoch, loss and an
    ETA from this session's mean time per step; at each evaluation the dev scores."""

    def __init__(self) -> None:
        self.start, self.first = 0.0, 0

    def on_train_begin(self, args, state, control, **kw):  # noqa: ANN001
        self.start, self.first = time.perf_counter(), state.global_step

    def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
        logs, done = logs or {}, state.global_step - self.first
        if "loss" in logs and done:
            spent = so_far(time.perf_counter() - self.start, done, state.max_steps - state.global_step)
            say(f"step {state.global_step}/{state.max_steps} (epoch {state.epoch:.2f}): "
                f"loss {float(logs['loss']):.4f}, {spent}")
        scores = {k[5:]: v for k, v in logs.items() if k.startswith("eval_") and isinstance(v, float)
                  and not k.endswith(("_runtime", "_per_second", "_loss"))}
        if scores:
            say(f"epoch {state.epoch:.3g} dev " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))


class RunClock(TrainerCallback, ExportableState):
    """Training seconds over every session of a resumed run. The Trainer's ``train_runtime`` covers its
    own session only, while the tokens cover the whole run; each checkpoint keeps the total so far, and
    the Trainer restores it (as this callback's ``before``) when a run resumes from that checkpoint."""

    def __init__(self, before: float = 0.0) -> None:
        self.before, self._start = before, time.perf_counter()

    def on_train_begin(self, args, state, control, **kw):  # noqa: ANN001
        self._start = time.perf_counter()

    def state(self) -> dict[str, Any]:
        return {"args": {"before": self.before + time.perf_counter() - self._start}, "attributes": {}}


def warn_grad_norm(norm: float, step: int, fixes: str) -> None:
    warn(f"the gradient norm is {norm} at step {step}: clipping turns such a step into no update (inf) or nan weights. "
        f"Try {fixes}")


class GradNormWatch(TrainerCallback):
    """Warns at the first logged gradient norm that is inf or nan. Clipping then scales every gradient by
    max_norm / inf = 0, or fills them with nan: the step teaches nothing, or ruins the weights, while the
    loss can still look sane. (A probe head with weights of 1e9 did this on every step, silently.)"""

    warned = False

    def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
        norm = (logs or {}).get("grad_norm")
        if norm is not None and not math.isfinite(float(norm)) and not self.warned:
            self.warned = True
            warn_grad_norm(float(norm), state.global_step, "a lower --lr, --bf16 off, or another --head-init")


class ScaledTrainer(Trainer):
    """Trainer whose optimizer gives some parameters a multiple of the learning rate: ``lr_scale``
    maps a parameter name to its multiple. The scheduler then scales every group's rate alike. ``order``
    keeps each epoch's batch order with the checkpoints, for a run resumed mid-epoch."""

    def __init__(self, *args: Any, lr_scale: Callable[[str], float] | None = None, order: EpochOrder | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lr_scale, self.order = lr_scale, order

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        sampler = super()._get_train_sampler(train_dataset)
        return self.order.wrap(sampler) if self.order else sampler

    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        """Scoring dev leaves the random numbers of training as they were: each evaluation's data loader drew a
        seed from the global generator, which moved the dropout masks of every later step, so --evals-per-epoch
        changed the training itself (test accuracy 0.425 against 0.450 at 4 and 0.5 evaluations an epoch)."""
        with torch.random.fork_rng(devices=range(torch.cuda.device_count())):  # CPU, and each GPU there is
            return super().evaluate(*args, **kwargs)

    def _clip_grad_norm(self, model: nn.Module) -> Any:
        """The Trainer's clipping, with a kept-gradient word table read only at the rows the step wrote."""
        total = clip_grad_norm(model, self.args.max_grad_norm)
        return super()._clip_grad_norm(model) if total is None else total

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        fresh = self.optimizer is None
        optimizer = super().create_optimizer(model)
        if fresh and self.lr_scale is not None:
            names = {id(p): n for n, p in (model or self.model).named_parameters()}
            groups = scaled_groups(optimizer.param_groups, names, self.lr_scale)
            optimizer.param_groups.clear()  # no step taken yet, so there is no state to carry over
            for group in groups:
                optimizer.add_param_group(group)
        return optimizer


def scaled_groups(groups: list[dict], names: dict[int, str], lr_scale: Callable[[str], float]) -> list[dict]:
    """Each group split by the multiple its parameters take; settings other than ``lr`` are kept."""
    out = []
    for group in groups:
        by_scale: dict[float, list] = {}
        for p in group["params"]:
            by_scale.setdefault(lr_scale(names[id(p)]), []).append(p)
        out += [{**group, "params": params, "lr": group["lr"] * scale} for scale, params in by_scale.items()]
    return out


def unused_trainable(model: nn.Module, rows: list[dict[str, Any]], collator: Callable) -> list[str]:
    """Names of the trainable parameters that a training step on ``rows`` leaves without a gradient.
    DDP must search the autograd graph for such parameters after every step (``find_unused_parameters``);
    when there are none it need not, and says so in a warning on every process if asked to. The step runs
    on its own RNG state and its gradients are dropped: training starts as it would have."""
    with torch.random.fork_rng():
        model.train()
        model(**collator(rows)).loss.backward()
    unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    model.zero_grad(set_to_none=True)
    return unused


def _args(cfg: Any, work: Path, epochs: float, lr: float, bf16: bool, total: int, steps_per_epoch: int,
          max_steps: int = 0, metric: str = "accuracy", stop_at: int = 0, bar: bool = True,
          find_unused: bool | None = None) -> TrainingArguments:
    # max_steps > 0 measures a few steps (``--estimate-steps``) on ``spread`` batches, in their order: no evaluation
    # or logs, one checkpoint at the end (its time and memory belong to every epoch of the real run).
    measure = dict(max_steps=max_steps, eval_strategy="no", save_strategy="steps", save_steps=max_steps,
                   load_best_model_at_end=False, report_to=[], train_sampling_strategy="sequential") if max_steps else {}
    # stop_at > 0 resumes a training that ended at that step: the Trainer runs no step, only reloads the best.
    measure |= dict(max_steps=stop_at) if stop_at else {}
    return TrainingArguments(**{**dict(
        output_dir=str(work), num_train_epochs=epochs, learning_rate=lr,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=128,
        weight_decay=cfg.weight_decay, warmup_steps=int(cfg.warmup_ratio * total), lr_scheduler_type="linear",
        **_checkpoints(cfg.evals_per_epoch, steps_per_epoch), save_total_limit=2, load_best_model_at_end=True,
        metric_for_best_model=metric, greater_is_better=True,
        train_sampling_strategy="group_by_length", bf16=bf16, seed=cfg.seed, data_seed=cfg.seed,
        report_to=["tensorboard"], logging_steps=max(1, min(50, steps_per_epoch // 4)),
        include_num_input_tokens_seen="non_padding", remove_unused_columns=False, label_names=["labels", "row"], dataloader_num_workers=0, disable_tqdm=not bar,
        use_cpu=not torch.cuda.is_available(),
        # --resume continues early stopping's count of evaluations without improvement (off by default)
        restore_callback_states_from_checkpoint=True, ddp_find_unused_parameters=find_unused), **measure})


def _checkpoints(per_epoch: float, steps_per_epoch: int) -> dict[str, Any]:
    """When dev is scored and a checkpoint saved: at each epoch's end, or ``per_epoch`` times an epoch (below
    1: once every 1 / ``per_epoch`` epochs' steps)."""
    if per_epoch == 1:
        return dict(eval_strategy="epoch", save_strategy="epoch")
    every = max(1, math.ceil(steps_per_epoch / per_epoch))
    return dict(eval_strategy="steps", eval_steps=every, save_strategy="steps", save_steps=every)


class Numbered(Encoded):
    """Rows that also carry their index as ``row``, a second label: the Trainer evaluates in
    length-grouped order, and the index puts each prediction back with the row it belongs to."""

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**self.rows[i], "row": i}


def dev_metric(task: Task, dev: Encoded, labels: list[str]) -> Callable[[Any], dict[str, float]]:
    """The Trainer's ``compute_metrics``: the task's dev metric from what was gathered for every dev row
    (``reduce_logits``: a classifier's logits, a tagger's argmax ids)."""
    def compute(pred: Any) -> dict[str, float]:
        gathered = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        if len(gathered) != len(dev):  # a timed evaluation on a sample of dev (``_measure``): nothing to score
            return {}
        gathered = gathered[np.argsort(pred.label_ids[1])]  # back to dev's order
        return {task.metric: task.score(task.trainer_rows(gathered, dev), dev, labels)}

    return compute


def reduce_logits(logits: Any, labels: Any) -> torch.Tensor:
    """What the Trainer gathers from each evaluation batch: a tagger's (B, T, C) logits reduced to ids
    as they come; a classifier's (B, C) kept, so a long text's windows can be averaged before the argmax."""
    logits = logits[0] if isinstance(logits, tuple) else logits
    return logits.argmax(-1) if logits.dim() > 2 else logits.float()


def fit_with_trainer(model: nn.Module, tokenizer: Any, train: Encoded, dev: Encoded, cfg: Any, work: Path,
                     epochs: float, lr: float, bf16: bool, callbacks: list | None = None,
                     max_steps: int = 0, task: Task | None = None, labels: list[str] | None = None,
                     lr_scale: Callable[[str], float] | None = None) -> dict[str, Any]:
    """Train ``model`` in place (best dev checkpoint loaded at the end); returns training stats.
    ``task`` (classification by default) pads the batches and scores dev with its metric over
    ``labels``; ``callbacks`` are extra Trainer callbacks the method needs (``Method.callbacks``), and
    ``lr_scale`` its per-parameter learning-rate multiples (``Method.lr_scale``). With
    ``max_steps`` it only measures: that many steps, then one timed evaluation on up to 256 dev rows
    (``dev_seconds_per_example``)."""
    # under a launcher each process takes its share of an epoch (DistributedSampler: ceil(n / processes) rows):
    # counted for one process, warm-up ran twice as long and dev was scored half as often with two
    steps_per_epoch = math.ceil(math.ceil(len(train) / dist.world_size()) / cfg.batch_size)
    task = task or TASKS.get("classification")
    resume = resume_point(work) if cfg.resume and not max_steps else None
    finished = read_finished(work) if resume else None
    plain = not sys.stderr.isatty()  # a log, not a terminal: lines, not a redrawn bar (LogLines)
    # launched: DDP searches every step for parameters without a gradient only if one batch shows some
    find_unused = bool(unused_trainable(model, train.rows[:2], task.collator(tokenizer))) if dist.launched() else None
    args = _args(cfg, work, epochs, lr, bf16, max(1, math.ceil(steps_per_epoch * epochs)), steps_per_epoch, max_steps,
                 task.metric, stop_at=finished["steps"] if finished else 0, bar=not plain, find_unused=find_unused)
    clock = StepClock()
    weights = class_weights(cfg.class_weights, task.targets(train), len(labels) if labels else 0)
    stops = cfg.patience > 0 and not max_steps
    train = spread(train, cfg.batch_size, max_steps, cfg.seed) if max_steps else train
    callbacks = [clock, RunClock(), GradNormWatch(), *([LogLines()] if plain else []), *(callbacks or [])]
    callbacks += [EarlyStoppingCallback(cfg.patience)] if stops else []
    order, stop = EpochOrder(), StopAtStep()
    if resume:
        order.resume(Path(resume))
    callbacks += [order, stop]  # stop last: it undoes what an epoch's end asks for, where a stop cut the epoch short
    trainer = ScaledTrainer(model=model, args=args, train_dataset=Numbered(train.rows), eval_dataset=Numbered(dev.rows),
                            data_collator=task.collator(tokenizer), compute_metrics=dev_metric(task, dev, labels or []),
                            preprocess_logits_for_metrics=reduce_logits, callbacks=callbacks, lr_scale=lr_scale,
                            compute_loss_func=training_loss(cfg.label_smoothing, weights), order=order)
    if plain:  # with the bar off, the Trainer prints its raw log dicts instead: LogLines says what matters
        trainer.remove_callback(PrinterCallback)
    if max_steps:
        return _measure(trainer, clock, dev)
    with listening(stop):
        result = trainer.train(resume_from_checkpoint=resume)
    if stop.cut_at:
        raise Stopped(stop.asked, stop.cut_at)
    before = next(c.before for c in trainer.callback_handler.callbacks if isinstance(c, RunClock))  # the restored one
    stats = finished or _stats(trainer, clock, before + result.metrics.get("train_runtime", 0.0), task.metric)
    write_json(work / FINISHED, stats)
    if stop.asked is not None:  # asked after the last step: training had ended, and --resume only reloads the best
        raise Stopped(stop.asked, 0)
    return {**stats, "resumed_from": resume, "earlier_seconds": before}  # the stopped sessions' training time


def _stats(trainer: Trainer, clock: StepClock, seconds: float, metric: str) -> dict[str, Any]:
    state = trainer.state
    return {"train_seconds": seconds, "epochs_run": state.epoch or 0.0, "steps": state.global_step,
            "useful_train_tokens": int(state.num_input_tokens_seen),
            "steady_tokens_per_s": clock.steady_tokens_per_s(state.num_input_tokens_seen, state.global_step),
            f"best_dev_{metric}": state.best_metric,
            "grad_norm_not_finite": sum(not math.isfinite(float(h["grad_norm"])) for h in state.log_history
                                        if "grad_norm" in h),  # of the logged steps; GradNormWatch warns at the first
            "loss_curve": [round(h["loss"], 5) for h in state.log_history if "loss" in h]}


def resume_point(work: Path) -> str | None:
    """The checkpoint --resume continues from: the last one saved whole, passing over (with a warning) newer
    ones whose save was cut off; the Trainer saves over them again when it reaches their step."""
    last = last_checkpoint(work)
    for cut in cut_off(work):
        warn(f"{cut}: its save was cut off (no whole trainer state; a full disk or a kill), so it is passed over; "
             f"resuming from {last.name if last else 'the start'}")
    return str(last) if last else None


def read_finished(work: Path) -> dict[str, Any] | None:
    """The stats kept by a training that had ended before the run was stopped: early stopping leaves
    epochs unrun, which --resume must not then train."""
    return read_json(work / FINISHED) if (work / FINISHED).is_file() else None


def _measure(trainer: Trainer, clock: StepClock, dev: Encoded) -> dict[str, Any]:
    """Steady training speed over a few steps (with each step's seconds against its tokens), one
    checkpoint save, evaluation speed on a dev sample, as the epoch loop runs them (Trainer's
    evaluation batches are not length-sorted, so it is timed, not derived), and one evaluation batch of
    the longest dev rows, so that the peak memory includes the epoch's largest evaluation batch."""
    trainer.train()
    sample = Numbered(dev.rows[:256])
    t0 = time.perf_counter()
    trainer.evaluate(eval_dataset=sample)
    dev_s = (time.perf_counter() - t0) / max(1, len(sample))
    longest = sorted(dev.rows, key=lambda r: len(r["input_ids"]), reverse=True)[:trainer.args.per_device_eval_batch_size]
    trainer.evaluate(eval_dataset=Numbered(longest))  # not timed: the memory of the epoch's largest dev batch
    tokens = trainer.state.num_input_tokens_seen
    settled = settled_rss_mb()  # the live set, while the optimizer's state is still held
    return {"steps": trainer.state.global_step, "useful_train_tokens": int(tokens), "settled_rss_mb": settled,
            "steady_tokens_per_s": clock.steady_tokens_per_s(tokens, trainer.state.global_step),
            "dev_seconds_per_example": dev_s, "step_seconds": step_cost(clock.timed), "save_seconds": clock.save_seconds}


def spread(train: Encoded, batch_size: int, steps: int, seed: int = 0) -> Encoded:
    """What ``max_steps`` measures on: ``steps`` batches of near-equal length, evenly spaced from the
    longest to the shortest, the longest first (as the length-grouped sampler starts) and the rest in a
    seeded random order (as its megabatches come). The steps then span the epoch's lengths, so the line
    through their seconds against tokens interpolates, and the peak memory includes what varying shapes
    leave behind: oneDNN keeps kernels per shape (190 MB for bf16 MiniLM). The heap's growth over a
    whole run, which no order of a few steps shows, is added by ``memory.fragmented_peak_mb``."""
    rows = sorted(train.rows, key=lambda r: len(r["input_ids"]), reverse=True)
    n_batches = math.ceil(len(rows) / batch_size)
    picks = np.unique(np.linspace(0, n_batches - 1, min(steps, n_batches)).round().astype(int))
    order = [picks[0], *np.random.default_rng(seed).permutation(picks[1:])]
    return Encoded([r for b in order for r in rows[b * batch_size:(b + 1) * batch_size]])


def step_cost(timed: list[tuple[float, int]]) -> tuple[float, float]:
    """(seconds per step, seconds per token): a least-squares line through the measured steps. A step
    costs a fixed part (optimizer, hooks) besides its tokens, so short batches run fewer tokens per
    second than long ones; the line carries the measured steps over to the epoch's own mix. Without
    spread in the token counts, all is per token."""
    seconds = np.array([t for t, _ in timed], dtype=float)
    tokens = np.array([n for _, n in timed], dtype=float)
    if len(timed) < 3 or np.ptp(tokens) < 0.2 * tokens.mean():
        return 0.0, float(seconds.sum() / max(1.0, tokens.sum()))
    per_token, fixed = np.polyfit(tokens, seconds, 1)
    if fixed < 0 or per_token < 0:  # noise in few steps: fall back to the plain ratio
        return 0.0, float(seconds.sum() / tokens.sum())
    return float(fixed), float(per_token)
