"""Benchmark tasks registered by name: the scorer side of each task module.

A task's scorer is the ``TASK`` (a ``Task`` subclass) of its module ``metricsft.tasks.<task>``;
the task list is ``metricsft.tasks.TASK_MODULES`` (adding a task: see ``metricsft.tasks``). The
generic scoring loop is ``metricsft.eval.tasks.base``.

    >>> from metricsft.eval.tasks import get_task, TASKS
    >>> TASKS
    ('refcoco', 'textdet', 'clock', 'rewardbench', 'gsm8k', 'arithmetic')
    >>> get_task("gsm8k").name
    'gsm8k'
"""

from __future__ import annotations

from metricsft.eval.tasks.base import Task, join_by_index, read_json_rows
from metricsft.registry import Registry
from metricsft.tasks import task_registry

# task name -> its Task subclass, imported on first use
TASK_CLASSES: Registry[type[Task]] = task_registry("task", "TASK")
TASKS: tuple[str, ...] = TASK_CLASSES.names


def get_task(name: str) -> Task:
    """A fresh task object for ``name``; an unknown name raises ValueError listing TASKS (and the closest)."""
    return TASK_CLASSES.load(name)()


__all__ = ["TASKS", "TASK_CLASSES", "Task", "get_task", "join_by_index", "read_json_rows"]
