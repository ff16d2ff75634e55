"""Task prompts: each task module's default ``PROMPTS``, reworded per family in ``prompts.yaml`` next to this module.

A task's default wording belongs to the task (``metricsft.tasks.<task>.PROMPTS``); a family's rewording
(PaliGemma's task prefixes, Qwen's grounding tokens) is a fact about the family, so it stays in the YAML
file under the family's name. Prompts are data, not code.

>>> render_prompt("paligemma", "refcoco", phrase="the red car")
'detect the red car'
>>> render_prompt("llama", "arithmetic", question="1+1?")
'1+1?\\nAnswer with the exact value only.'
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Any

PROMPTS_FILE = Path(__file__).with_name("prompts.yaml")


@lru_cache(maxsize=1)
def load_prompts() -> dict[str, dict[str, str]]:
    """The family overrides: ``{family: {prompt key: template}}`` from ``prompts.yaml``."""
    import yaml

    with open(PROMPTS_FILE, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{PROMPTS_FILE}: expected a mapping of family -> {{prompt key: template}}")
    return data


@lru_cache(maxsize=1)
def default_prompts() -> dict[str, str]:
    """Every task's default prompts, ``{prompt key: template}`` (a key belongs to one task only).

    >>> "gsm8k" in default_prompts()
    True
    """
    from metricsft.tasks import task_registry

    # task modules import templates, so they are loaded here, on first use, never at import time
    prompts: dict[str, str] = {}
    owners: dict[str, str] = {}
    table = task_registry("task", "PROMPTS")
    for task in table.names:
        for key, template in table.load(task).items():
            if key in owners:
                raise ValueError(f"prompt {key!r} is defined by both task {owners[key]!r} and task {task!r}")
            prompts[key], owners[key] = template, task
    return prompts


def prompt_fields(family: str, task: str) -> list[str]:
    """The ``{names}`` the prompt of ``task`` for ``family`` needs.

    >>> prompt_fields("llama", "refcoco")
    ['phrase']
    """
    return [name for _, name, _, _ in string.Formatter().parse(_template(family, task)) if name]


def _template(family: str, task: str) -> str:
    defaults = default_prompts()
    template = load_prompts().get(family, {}).get(task) or defaults.get(task)
    if template is None:
        raise ValueError(f"no prompt for task {task!r} (known: {', '.join(sorted(defaults))})")
    return template


def render_prompt(family: str, task: str, **fields: Any) -> str:
    """Fill the prompt of ``task`` for ``family``; a missing field is an error naming it."""
    template = _template(family, task)
    missing = [name for name in prompt_fields(family, task) if name not in fields]
    if missing:
        raise ValueError(f"prompt {family}/{task} needs the field(s) {missing}; pass them to codec.prompt()")
    return template.format(**fields)
