"""The list of tasks: one line per task, naming the module that owns everything about it.

A task module (``metricsft.tasks.<task>``) holds the task's row truth (``truth_from_json``), its
converter (``CONVERTER``, behind ``metricsft data convert <task>``), its scorer (``TASK``, behind
``metricsft eval`` / ``score``), its MBR decision rules (``MBR``) and its default prompts
(``PROMPTS``; a model family may reword them in ``templates/prompts.yaml``). Every table of tasks
elsewhere (``CONVERTERS``, ``TASK_CLASSES``, ``TRUTH_READERS``, ``TASK_MBR``) is built from
``TASK_MODULES`` with ``task_registry``, and imports a task module only when that task is used.

Adding a task: write ``tasks/<task>.py`` with the five names above and add its line below.
This module imports nothing heavy (``metricsft.templates`` reads it).

>>> TASKS
('refcoco', 'textdet', 'clock', 'rewardbench', 'gsm8k', 'arithmetic')
>>> task_registry("task", "TASK").load("gsm8k").name
'gsm8k'
>>> task_registry("task", "TASK").load("gsm8").name
Traceback (most recent call last):
...
ValueError: unknown task 'gsm8'; choose one of: refcoco, textdet, clock, rewardbench, gsm8k, arithmetic; did you mean 'gsm8k'?
"""

from __future__ import annotations

from typing import Any

from metricsft.registry import Registry

#: task name -> the module that owns the task (THE list of tasks; its order is the order shown to users)
TASK_MODULES: dict[str, str] = {
    "refcoco": "metricsft.tasks.refcoco",
    "textdet": "metricsft.tasks.textdet",
    "clock": "metricsft.tasks.clock",
    "rewardbench": "metricsft.tasks.rewardbench",
    "gsm8k": "metricsft.tasks.gsm8k",
    "arithmetic": "metricsft.tasks.arithmetic",
}

TASKS: tuple[str, ...] = tuple(TASK_MODULES)


def task_registry(what: str, attribute: str) -> Registry[Any]:
    """A registry of one ``attribute`` of every task module (e.g. ``"CONVERTER"``), loaded lazily.

    >>> task_registry("task", "CONVERTER").names == TASKS
    True
    """
    return Registry(what, {task: f"{module}:{attribute}" for task, module in TASK_MODULES.items()})


__all__ = ["TASKS", "TASK_MODULES", "task_registry"]
