"""Task prompts, read from ``prompts.yaml`` next to this module (prompts are data, not code).

>>> render_prompt("paligemma", "refcoco", phrase="the red car")
'detect the red car'
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Any

PROMPTS_FILE = Path(__file__).with_name("prompts.yaml")


@lru_cache(maxsize=1)
def load_prompts() -> dict[str, dict[str, str]]:
    import yaml

    with open(PROMPTS_FILE, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict) or "default" not in data:
        raise ValueError(f"{PROMPTS_FILE}: expected a mapping with a 'default' section")
    return data


def prompt_fields(family: str, task: str) -> list[str]:
    """The ``{names}`` the prompt of ``task`` for ``family`` needs."""
    return [name for _, name, _, _ in string.Formatter().parse(_template(family, task)) if name]


def _template(family: str, task: str) -> str:
    prompts = load_prompts()
    template = prompts.get(family, {}).get(task) or prompts["default"].get(task)
    if template is None:
        raise ValueError(f"no prompt for task {task!r} in {PROMPTS_FILE} (known: {', '.join(sorted(prompts['default']))})")
    return template


def render_prompt(family: str, task: str, **fields: Any) -> str:
    """Fill the prompt of ``task`` for ``family``; a missing field is an error naming it."""
    template = _template(family, task)
    missing = [name for name in prompt_fields(family, task) if name not in fields]
    if missing:
        raise ValueError(f"prompt {family}/{task} needs the field(s) {missing}; pass them to codec.prompt()")
    return template.format(**fields)
