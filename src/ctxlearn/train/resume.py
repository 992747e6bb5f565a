"""OUT.partial, the work folder of a run that trains: its checkpoints, and a record of what the run
was started with, so that --resume continues that run and refuses to mix it with another."""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

from ctxlearn.config import TrainConfig, refuse_changes, to_dict
from ctxlearn.errors import ConfigError

RECORD = "run.json"
TRAINER_STATE = "trainer_state.json"  # transformers' TRAINER_STATE_NAME
FINISHED = "finished.json"  # the stats of a training that ran to its end, best checkpoint loaded
# Fields a resumed run may change; every other one decides the model, the data or the schedule.
# method_options is checked for the run's method only: other methods' options do nothing.
RESUME_FREE = ("out", "threads", "estimate_steps", "resume", "method_options")


def work_folder(cfg: Any) -> Path:
    """OUT.partial beside a run's ``cfg.out``: an unfinished run's work (checkpoints, scored parts)."""
    return partial_of(cfg.out)


def partial_of(out: str | Path) -> Path:
    return Path(out).with_name(Path(out).name + ".partial")


def recorded_settings(out: str | Path) -> dict[str, Any]:
    """The settings the interrupted run in OUT.partial was started with, as TrainConfig fields (its
    method's options under method_options), so ``--resume --out OUT`` needs none of its flags again;
    {} where no run was recorded there."""
    record = partial_of(out) / RECORD
    try:
        saved = read_json(record)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ConfigError(f"{record}: unreadable ({e}); give the run's flags with --resume, or delete "
                          f"{partial_of(out)} to start over") from None
    names = {f.name for f in dataclasses.fields(TrainConfig)} - set(RESUME_FREE)
    values = {k: v for k, v in saved.items() if k in names}
    if "data" in values and not Path(values["data"]).exists() and Path(saved.get("data_path", "")).exists():
        values["data"] = saved["data_path"]  # a relative path, resumed from another folder than the run started in
    options = saved.get(f"--{values.get('method')}-* options")
    return {**values, "method_options": {values["method"]: options}} if options else values


def refuse_to_discard(work: Path, resume: bool, checkpoint: str | Path | None) -> None:
    """A new run (no --resume) starts by emptying ``work``: refuse while it holds an interrupted run's
    ``checkpoint``, which only --resume can continue (a folder with no checkpoint yet has nothing to lose)."""
    if not resume and checkpoint is not None:
        raise ConfigError(f"{work} holds an interrupted run, saved at {Path(checkpoint).name}: continue it with "
                          f"--resume, or delete that folder to start over (rm -r {shlex.quote(str(work))})")


def checkpoints(work: Path) -> list[Path]:
    """The Trainer's checkpoint folders in ``work`` (``checkpoint-STEP``), oldest step first."""
    found = [p for p in work.glob("checkpoint-*") if p.is_dir() and p.name.partition("-")[2].isdigit()]
    return sorted(found, key=_step)


def _step(checkpoint: Path) -> int:
    return int(checkpoint.name.partition("-")[2])


def is_whole(checkpoint: Path) -> bool:
    """Whether a checkpoint was saved to the end: the Trainer writes trainer_state.json last, so one without
    it (or with half of it) was cut off mid-save, by a full disk or a kill, and resuming from it fails."""
    try:
        json.loads((checkpoint / TRAINER_STATE).read_text())
    except (OSError, ValueError):
        return False
    return True


def last_checkpoint(work: Path) -> Path | None:
    """The newest whole checkpoint in ``work`` (none: no folder, or no checkpoint saved to the end)."""
    whole = [p for p in checkpoints(work) if is_whole(p)] if work.is_dir() else []
    return whole[-1] if whole else None


def cut_off(work: Path) -> list[Path]:
    """The checkpoints newer than the last whole one: saves that were cut off, which --resume passes over."""
    last = last_checkpoint(work)
    return [p for p in checkpoints(work) if last is None or _step(p) > _step(last)] if work.is_dir() else []


def identity(cfg: TrainConfig, data_sha256: dict[str, str], model_path: str) -> dict[str, Any]:
    """What a resumed run must share with the run it continues: its settings, and the contents of its
    data and base model (a file edited in place keeps its name)."""
    from ctxlearn.artifact import weights_sha256  # loads torch: this module is also read by `ctxlearn runs`

    from ctxlearn.train.dist import world_size

    fixed = {k: v for k, v in to_dict(cfg).items() if k not in RESUME_FREE}
    return {**fixed, "data_path": absolute(cfg.data), "processes": world_size(),
            f"--{cfg.method}-* options": cfg.method_options.get(cfg.method) or {},
            **{f"{split} data sha256": h for split, h in data_sha256.items()},
            "model weights sha256": weights_sha256(model_path)}


def open_work(cfg: TrainConfig, work: Path, run: dict[str, Any]) -> None:
    """Empty ``work`` for a new run; with --resume, refuse a run other than the one it holds (a folder
    from before this record was kept is resumed unchecked). Then record ``run``."""
    record = work / RECORD
    if not cfg.resume and work.exists():
        shutil.rmtree(work)
    elif cfg.resume and record.is_file():
        before = with_new_defaults(read_json(record))
        refuse_other_processes(before["processes"], run["processes"], cfg.out, work)
        if before["data_path"] == run["data_path"]:  # one file, named from another folder: its hashes are checked
            before["data"] = run["data"]
        refuse_changes(before, run, f"the interrupted run in {work}")
    work.mkdir(parents=True, exist_ok=True)
    write_json(record, run)


def with_new_defaults(record: dict[str, Any]) -> dict[str, Any]:
    """A record written before a setting existed: the run it holds trained with that setting's default
    (an interrupted run stays resumable after an upgrade that adds a flag), and in one process."""
    fields = dataclasses.fields(TrainConfig)
    made = {**{f.name: f.default for f in fields if f.name not in RESUME_FREE}, "processes": 1, **record}
    return {"data_path": absolute(made["data"]), **made}


def absolute(data: str) -> str:
    """``data`` as an absolute path where it names a file or folder here, else as given (builtin:NAME): a run
    started in another folder is found, and recognised, from here."""
    path = Path(data).expanduser()
    return str(path.resolve()) if path.exists() else data


def refuse_other_processes(before: int, now: int, out: str, work: Path) -> None:
    """A run goes on in as many processes as it started with: its steps per epoch, schedule and data order are
    the launcher's. `ctxlearn train --resume` of a two-process run went on in one, from step 13 of a 50-step
    schedule in place of 25, training some rows twice."""
    from ctxlearn.train.dist import launch_command

    if before != now:
        raise ConfigError(f"--resume: the interrupted run in {work} trained in {before} process"
                          f"{'es' if before > 1 else ''}, and this one runs {now}; continue it as it started: "
                          f"{launch_command(before)} train --out {shlex.quote(out)} --resume")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_json(path: Path, data: Any) -> None:
    """Whole or absent, never half-written, as a killed run may leave it. Each process of a launched run
    writes through its own temporary file: with one shared name, a rename could take the other's."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
