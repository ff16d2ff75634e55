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

import re
from typing import Any, Mapping, Sequence

# Special tokens (<|box_start|>, <loc0123>, </s>) and whitespace: LLaMA-Factory decodes its `label` with
# skip_special_tokens=True and the tokenizer's own spacing, so only the rest must survive the round trip.
_TOKEN_OR_SPACE = re.compile(r"<[^<>\s]{1,40}>|\s+")


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


def _reference(row: Mapping[str, Any]) -> str:
    for message in reversed(row.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            return str(message.get("content") or "")
    return ""


def check_labels_align(predictions: Sequence[Mapping[str, Any]], converted: Sequence[Mapping[str, Any]], where: str) -> None:
    """Raise ValueError when a prediction's ``label`` is not the converted row's answer at the same position.

    The join of ``metricsft score --data`` is by position; a dataset that LLaMA-Factory shuffled
    (``num_samples`` in dataset_info.json) or filtered would pair each answer with another row's truth.
    Labels and answers are compared without special tokens and whitespace; rows where either is empty
    are not compared.

    >>> preds = [{"label": "the cat(1,2),(3,4)"}]
    >>> check_labels_align(preds, [{"messages": [{"role": "assistant", "content": "the cat<|box_start|>(1,2),(3,4)"}]}], "p vs d")
    >>> check_labels_align(preds, [{"id": "r7", "messages": [{"role": "assistant", "content": "(5,6),(7,8)"}]}], "p vs d")
    Traceback (most recent call last):
    ...
    ValueError: p vs d: prediction row 0 has the label 'the cat(1,2),(3,4)' but row 'r7' of the data answers '(5,6),(7,8)'; the files are not in the same order (was the dataset shuffled or filtered by LLaMA-Factory, e.g. num_samples?)
    """
    for index, (prediction, row) in enumerate(zip(predictions, converted)):
        label, answer = str(prediction.get("label") or ""), _reference(row)
        bare_label, bare_answer = _TOKEN_OR_SPACE.sub("", label), _TOKEN_OR_SPACE.sub("", answer)
        if bare_label and bare_answer and bare_label != bare_answer:
            raise ValueError(
                f"{where}: prediction row {index} has the label {label[:60]!r} but row {row.get('id', index)!r} of the "
                f"data answers {answer[:60]!r}; the files are not in the same order (was the dataset shuffled or "
                "filtered by LLaMA-Factory, e.g. num_samples?)"
            )
