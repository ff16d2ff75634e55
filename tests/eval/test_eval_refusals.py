"""`metricsft eval` refuses data it could not score BEFORE generating anything (real tasks, real runner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metricsft.eval.runner import EvalArguments, run_eval


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _refcoco_rows(n: int, meta_task: str | None = "refcoco") -> list[dict]:
    meta = {"family": "qwen2_vl", "image_size": [640, 480], "truth": {"box": [10.0, 10.0, 90.0, 90.0], "phrase": "cat"}}
    if meta_task is not None:
        meta["task"] = meta_task
    return [{"id": f"refcoco/val/{i}", "messages": [{"role": "user", "content": "<image>the cat"},
                                                    {"role": "assistant", "content": ""}], "meta": meta}
            for i in range(n)]


def _never_generate():
    pytest.fail("the backend was started although the data cannot be scored")


@pytest.mark.parametrize(
    "task, family, rows, message",
    [
        ("gsm8k", "qwen2_vl", _refcoco_rows(3), "row 'refcoco/val/0' was converted for task 'refcoco', not 'gsm8k'"),
        ("refcoco", "paligemma", _refcoco_rows(3), "converted for family 'qwen2_vl' but --format is 'paligemma'"),
        ("refcoco", "qwen2_vl", [], "no rows"),
        # no meta.task to compare: the truth itself cannot be read as a gsm8k answer
        ("gsm8k", "qwen2_vl", _refcoco_rows(2, meta_task=None), r"refcoco/val/0|'answer'"),
    ],
    ids=["other-task", "other-family", "empty", "truth-of-another-task"],
)
def test_unscorable_data_is_refused_before_generation(tmp_path, task, family, rows, message):
    data = _write(tmp_path / "data.jsonl", rows)
    args = EvalArguments(task=task, data=str(data), family=family, out=str(tmp_path / "out"), backend="hf",
                         model="unused", progress=False)
    with pytest.raises((ValueError, KeyError), match=message):
        run_eval(args, backend_factory=_never_generate)
    assert not (tmp_path / "out" / "answers.jsonl").exists()
