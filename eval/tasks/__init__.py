"""Benchmark tasks registered by name.

    >>> from metricsft.eval.tasks import get_task, TASKS
    >>> TASKS
    ('refcoco', 'textdet', 'clock', 'rewardbench', 'gsm8k', 'arithmetic')
    >>> get_task("gsm8k").name
    'gsm8k'
"""

from __future__ import annotations

from metricsft.eval.tasks.arithmetic import ArithmeticTask
from metricsft.eval.tasks.base import Task, join_by_index, read_json_rows
from metricsft.eval.tasks.clock import ClockTask
from metricsft.eval.tasks.gsm8k import GSM8kTask
from metricsft.eval.tasks.refcoco import RefCOCOTask
from metricsft.eval.tasks.rewardbench import RewardBenchTask
from metricsft.eval.tasks.textdet import TextDetTask

_REGISTRY: dict[str, type[Task]] = {
    task.name: task for task in (RefCOCOTask, TextDetTask, ClockTask, RewardBenchTask, GSM8kTask, ArithmeticTask)
}
TASKS: tuple[str, ...] = tuple(_REGISTRY)


def get_task(name: str) -> Task:
    """A fresh task object for ``name``; an unknown name raises ValueError listing TASKS."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return _REGISTRY[name]()


__all__ = ["TASKS", "Task", "get_task", "join_by_index", "read_json_rows"]
