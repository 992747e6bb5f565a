"""Tasks: what differs between classifying a text and tagging its words, behind one interface that the
training run, evaluation and prediction dispatch on (``TASKS``, ``task_for``)."""
from ctxlearn.tasks.base import TASKS, Task, task_for

# Importing the modules registers the tasks.
from ctxlearn.tasks import classification, tagging  # noqa: E402,F401,I001

__all__ = ["TASKS", "Task", "task_for"]
