"""Each epoch's batch order, kept with the checkpoints: a run resumed mid-epoch draws the order the unbroken
run drew (the run itself is compared with an unbroken one in test_stop.py)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler

from ctxlearn.train.order import ORDER_FILE, EpochOrder

LENGTHS = [3, 9, 4, 7, 1, 8, 2, 6, 5, 10, 11, 12] * 4


def _checkpoint(folder: Path, epoch: float, rng: torch.Tensor | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"epoch": epoch}))
    if rng is not None:
        torch.save(rng, folder / ORDER_FILE)
    return folder


def test_an_unbroken_run_draws_from_the_global_rng_as_before_and_notes_the_state() -> None:
    torch.manual_seed(0)
    before = list(LengthGroupedSampler(4, lengths=LENGTHS))
    order = EpochOrder()
    torch.manual_seed(0)
    assert list(order.wrap(LengthGroupedSampler(4, lengths=LENGTHS))) == before
    torch.manual_seed(0)
    assert torch.equal(order.drawn_from, torch.get_rng_state())
    assert order.wrap(None) is None  # no dataset length: the Trainer has no sampler to wrap


def test_a_run_resumed_mid_epoch_draws_the_order_its_epoch_was_drawn_from(tmp_path: Path) -> None:
    torch.manual_seed(1)
    state = torch.get_rng_state()
    unbroken = list(LengthGroupedSampler(4, lengths=LENGTHS))
    torch.manual_seed(2)  # the resumed run starts from another state, as a second epoch does
    order = EpochOrder()
    order.resume(_checkpoint(tmp_path / "checkpoint-14", 1.4, state))
    sampler = order.wrap(LengthGroupedSampler(4, lengths=LENGTHS))
    assert list(sampler) == unbroken
    assert list(sampler) != unbroken  # the resumed epoch only: the next draws from the global RNG again


def test_an_epochs_end_or_an_older_checkpoint_resumes_as_before(tmp_path: Path) -> None:
    """At an epoch's end the Trainer puts back the RNG state itself; an older checkpoint kept no order."""
    rng = torch.get_rng_state()
    for folder, epoch, kept in (("checkpoint-10", 1.0, rng), ("checkpoint-7", 0.7, None)):
        order = EpochOrder()
        order.resume(_checkpoint(tmp_path / folder, epoch, kept))
        assert order.resume_from is None


def test_the_order_is_saved_in_the_checkpoint_the_main_process_writes(tmp_path: Path) -> None:
    order = EpochOrder()
    torch.manual_seed(3)
    list(order.wrap(LengthGroupedSampler(4, lengths=LENGTHS)))
    (tmp_path / "checkpoint-5").mkdir()
    args = SimpleNamespace(output_dir=str(tmp_path))
    order.on_save(args, SimpleNamespace(global_step=5, is_world_process_zero=False), None)
    assert not (tmp_path / "checkpoint-5" / ORDER_FILE).exists()
    order.on_save(args, SimpleNamespace(global_step=5, is_world_process_zero=True), None)
    assert torch.equal(torch.load(tmp_path / "checkpoint-5" / ORDER_FILE), order.drawn_from)
