"""Benchmark tasks registered by name.

Adding a task: its truth in ``metricsft.templates.rows`` (whose ``TRUTH_READERS`` lists the tasks), a module
here named after the task with ``TASK = <Task subclass>``, and its converter ``metricsft.data.<task>``.

    >>> from metricsft.eval.tasks import get_task, TASKS
    >>> TASKS
    ('refcoco', 'textdet', 'clock', 'rewardbench', 'gsm8k', 'arithmetic')
    >>> get_task("gsm8k").name
    'gsm8k'
"""

from __future__ import annotations

from metricsft.eval.tasks.base import Task, join_by_index, read_json_rows
from metricsft.registry import Registry
from metricsft.templates.rows import TRUTH_READERS

# task name -> its Task subclass, imported on first use; the task list is the row contract's
TASK_CLASSES: Registry[type[Task]] = Registry("task", {task: f"{__name__}.{task}:TASK" for task in TRUTH_READERS})
TASKS: tuple[str, ...] = TASK_CLASSES.names


def get_task(name: str) -> Task:
    """A fresh task object for ``name``; an unknown name raises ValueError listing TASKS (and the closest)."""
    return TASK_CLASSES.load(name)()


__all__ = ["TASKS", "TASK_CLASSES", "Task", "get_task", "join_by_index", "read_json_rows"]
