"""ctxlearn.tasks.base: the task a run's data and settings name."""
from __future__ import annotations

from pathlib import Path

import pytest

from ctxlearn.errors import ConfigError
from ctxlearn.tasks import task_for


def test_auto_reads_the_task_off_the_data(tmp_path: Path) -> None:
    conll = tmp_path / "ner.conll"
    conll.write_text("Ada\tB-PER\nran\tO\n")
    table = tmp_path / "reviews.csv"
    table.write_text("text,label\na fine film,positive\n")
    assert (task_for("auto", str(conll)).name, task_for("auto", str(table)).name) == ("tagging", "classification")
    assert task_for("tagging", str(table)).name == "tagging", "a task named is taken as named"


def test_an_unknown_task_is_refused_with_a_guess_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"^unknown task 'taging' \(did you mean 'tagging'\?\); "
                                          r"choose auto, classification, tagging$"):
        task_for("taging", "x.csv")
