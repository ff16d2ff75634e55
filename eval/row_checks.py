"""Checks that rows can be scored as the requested task and family, run BEFORE generating or scoring.

A RefCOCO dataset passed to ``metricsft eval gsm8k`` used to generate every answer and only then fail;
``--format paligemma`` on rows converted for qwen2_vl silently gave a wrong IoU. Converted rows say what
they are (``meta.task``, ``meta.family``), so a mismatch is refused up front, naming the row and the fix.

    >>> rows = [{"id": "refcoco/val/0", "meta": {"task": "refcoco", "family": "qwen2_vl"}}]
    >>> check_rows_fit(rows, "refcoco", "qwen2_vl", "data.jsonl")
    >>> check_rows_fit(rows, "gsm8k", None, "data.jsonl")
    Traceback (most recent call last):
    ...
    ValueError: data.jsonl: row 'refcoco/val/0' was converted for task 'refcoco', not 'gsm8k'; use the task refcoco or pass a gsm8k dataset
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence


def _meta(row: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = row.get("meta")
    return meta if isinstance(meta, Mapping) else {}


def check_rows_fit(rows: Sequence[Mapping[str, Any]], task: str, family: str | None, where: str) -> None:
    """Raise ValueError when ``rows`` is empty or a row was converted for another task or family.

    ``family`` None skips the family check (the rows' own ``meta.family`` will be used). Rows without
    ``meta`` (a bare generated_predictions.jsonl) carry no claim and pass.
    """
    if not rows:
        raise ValueError(f"{where}: no rows; an empty file has nothing to score (did generation write anything?)")
    for index, row in enumerate(rows):
        meta = _meta(row)
        rid = row.get("id", f"row-{index}")
        row_task, row_family = meta.get("task"), meta.get("family")
        if row_task is not None and row_task != task:
            raise ValueError(
                f"{where}: row {rid!r} was converted for task {row_task!r}, not {task!r}; use the task {row_task} "
                f"or pass a {task} dataset"
            )
        if family is not None and row_family is not None and row_family != family:
            raise ValueError(
                f"{where}: row {rid!r} was converted for family {row_family!r} but --format is {family!r}; pass "
                f"--format {row_family} or convert the data again with --format {family}"
            )
