"""Benchmark tasks registered by name.

Adding a task is one module with a ``Task`` subclass (plus its converter in ``metricsft.data``) and one
line in ``TASK_CLASSES``; ``TASKS`` follows from it.

    >>> from metricsft.eval.tasks import get_task, TASKS
    >>> TASKS
    ('refcoco', 'textdet', 'clock', 'rewardbench', 'gsm8k', 'arithmetic')
    >>> get_task("gsm8k").name
    'gsm8k'
"""

from __future__ import annotations

from metricsft.eval.tasks.base import Task, join_by_index, read_json_rows
from metricsft.registry import Registry

# task name -> Task subclass, imported on first use
TASK_CLASSES: Registry[type[Task]] = Registry("task", {
    "refcoco": "metricsft.eval.tasks.refcoco:RefCOCOTask",
    "textdet": "metricsft.eval.tasks.textdet:TextDetTask",
    "clock": "metricsft.eval.tasks.clock:ClockTask",
    "rewardbench": "metricsft.eval.tasks.rewardbench:RewardBenchTask",
    "gsm8k": "metricsft.eval.tasks.gsm8k:GSM8kTask",
    "arithmetic": "metricsft.eval.tasks.arithmetic:ArithmeticTask",
})
TASKS: tuple[str, ...] = TASK_CLASSES.names


def get_task(name: str) -> Task:
    """A fresh task object for ``name``; an unknown name raises ValueError listing TASKS (and the closest)."""
    return TASK_CLASSES.load(name)()


__all__ = ["TASKS", "TASK_CLASSES", "Task", "get_task", "join_by_index", "read_json_rows"]
