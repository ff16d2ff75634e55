"""`metricsft eval`: data it could not score is refused BEFORE generating; scoring options reach the scorer."""

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


def test_eval_judge_rules_reach_the_scorer(tmp_path, capsys):
    from metricsft.eval.eval_cli import eval_main

    judgements = {"tie": "[[C]]", "both": "[[A]] ... [[B]]", "right": "[[B]]"}
    rows = [{"id": rid, "messages": [{"role": "user", "content": "which is better?"}, {"role": "assistant", "content": "[[B]]"}],
             "meta": {"task": "rewardbench", "family": "llama",
                      "truth": {"pair_id": rid, "subset": "hep-go", "mode": "pairwise", "swap": True, "better": "B"}}}
            for rid in judgements]
    data = _write(tmp_path / "data.jsonl", rows)
    expected = {"official": (0.5 + 0.0 + 1.0) / 3, "strict": (0.0 + 0.5 + 1.0) / 3}  # [[A]] wins officially
    for rules, accuracy in expected.items():
        out = tmp_path / rules
        out.mkdir()
        # every answer already cached: the run only scores (a backend would be started for missing rows)
        _write(out / "answers.jsonl", [{"id": rid, "answer": text} for rid, text in judgements.items()])
        argv = ["rewardbench", "--model", "unused", "--backend", "hf", "--data", str(data), "--format", "llama",
                "--out", str(out), "--no-progress", "--json"] + (["--judge-rules", rules] if rules == "strict" else [])
        assert eval_main(argv) == 0
        assert json.loads(capsys.readouterr().out)["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert eval_main(["gsm8k", "--model", "m", "--backend", "hf", "--data", str(data), "--format", "llama",
                      "--out", str(tmp_path / "g"), "--judge-rules", "strict"]) == 1
    assert "rewardbench only" in capsys.readouterr().err
