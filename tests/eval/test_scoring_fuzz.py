"""Every task's scorer on hostile answers: every row is scored or counted as a failure with a reason,
and the run completes (no exception, no hang).

The answers are what long real evaluations meet sooner or later: numbers past Python's 4,300-digit
int limit in every family's syntax, nesting deep enough to exhaust the recursion limit, NUL bytes,
1 MB of garbage, and several conventions mixed in one answer.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest

from metricsft.cli import main
from metricsft.eval.tasks import TASKS, get_task
from metricsft.templates import FAMILIES

HUGE = "9" * 5000
SQUARE = [[0, 0], [50, 0], [50, 50], [0, 50]]


def _garbage(size: int, seed: int) -> str:
    rng = random.Random(seed)
    alphabet = string.printable + "<>|[]{}()#:_-.,\x00\u00e9\u4e2d"
    return "".join(rng.choice(alphabet) for _ in range(size))


HOSTILE_ANSWERS: dict[str, str] = {
    # numbers beyond int()'s limit, written in each family's syntax and as plain answers
    "huge-plain": HUGE,
    "huge-gsm8k": f"so the answer is\n#### {HUGE}",
    "huge-fraction": f"{HUGE}/{HUGE}",
    "huge-qwen2_vl": f"<|box_start|>({HUGE},1),(2,2)<|box_end|><|quad_start|>({HUGE},1),(2,2),(3,3)<|quad_end|>",
    "huge-json": f'```json\n[{{"bbox_2d": [{HUGE}, 1, 2, 2]}}, {{"polygon": [[{HUGE}, 1], [2, 2], [3, 3]]}}]\n```',
    "huge-list": f"[{HUGE}, 1, 2, 2]\n[0.{HUGE}, 0.1, 0.2, 0.2]",
    "huge-rating": f"Rating: [[{HUGE}]]\nhelpfulness: {HUGE}",
    "huge-clock": f"{HUGE}:30 or 10:{HUGE}",
    "huge-decimal": "1." + HUGE,
    # nesting that makes json.loads recurse
    "deep-brackets": "[" * 3000,
    "deep-objects": '[{"bbox_2d": ' * 1500,
    "deep-balanced": "[" * 3000 + "]" * 3000,
    "deep-parens": "(" * 5000 + "1,2" + ")" * 5000,
    # NUL bytes around and inside answers
    "nul-only": "\x00" * 1000,
    "nul-inside": "#### 1\x008\n2:\x0055 [[\x00A]] <|box_start|>(1,\x002),(3,4)<|box_end|>",
    # runaway generations
    "garbage-1mb": _garbage(1_000_000, seed=0),
    "repeat-1mb": "1, " * 333_334,
    "tokens-1mb": "<|box_start|>(1,2)," * 52_000,
    # several conventions in one answer
    "mixed-geometry": '<|box_start|>(10,10),(90,90)<|box_end|> <loc0010><loc0010><loc0090><loc0090> cat ; '
    '[0.1, 0.1, 0.9, 0.9]\n```json\n[{"bbox_2d": [10, 10, 90, 90]}]\n```(1,2),(3,4)',
    "mixed-verdicts": "[[A]] no wait [[B]] actually [[C]] Rating: 5 Rating: 7 score = 3",
    "mixed-times": "2:55, 14:70, 10:10:30, 25:00, 3_15, 2024-05-01",
    "mixed-answers": "#### 1,000.5 then #### -3/4 and 18.00$ 1e999999999 NaN inf",
    "empty": "",
}


def _row(task: str, rid: str, family: str, truth: dict, **meta) -> dict:
    return {"id": rid, "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}],
            "meta": {"task": task, "family": family, "truth": truth, **meta}}


def _rows_and_answers(task: str, family: str, mode: str) -> tuple[list[dict], dict[str, str]]:
    """One row per hostile answer (two for rating pairs: the answer is used for the chosen response)."""
    rows, answers = [], {}
    for name, text in HOSTILE_ANSWERS.items():
        rid = f"{task}/{name}"
        if task == "refcoco":
            rows.append(_row(task, rid, family, {"box": [10.0, 10.0, 100.0, 100.0], "phrase": "cat"}, image_size=[640, 480]))
        elif task == "textdet":
            regions = [{"points": SQUARE, "text": "A", "dont_care": False}, {"points": SQUARE, "text": "###", "dont_care": True}]
            rows.append(_row(task, rid, family, {"polygons": regions}, image_size=[640, 480]))
        elif task == "clock":
            rows.append(_row(task, rid, family, {"hour": 3, "minute": 5}))
        elif task in ("gsm8k", "arithmetic"):
            rows.append(_row(task, rid, family, {"answer": "18" if task == "gsm8k" else "-3/4"}))
        elif mode == "pairwise":
            rows.append(_row(task, rid, family, {"pair_id": rid, "subset": "hep-go", "mode": "pairwise", "swap": True, "better": "B"}))
        elif mode == "rating":
            for which in ("chosen", "rejected"):
                truth = {"pair_id": rid, "subset": "hep-go", "mode": "rating", "swap": False, "better": None, "response": which}
                rows.append(_row(task, f"{rid}/{which}", family, truth))
                answers[f"{rid}/{which}"] = text if which == "chosen" else "Rating: 5"
            continue
        else:
            rows.append(_row(task, rid, family, {"mode": "scores", "scores": {"helpfulness": 3.0}, "range": [0.0, 4.0]}))
        answers[rid] = text
    return rows, answers


CASES = [(task, mode) for task in TASKS for mode in (("pairwise", "rating", "scores") if task == "rewardbench" else ("",))]


def _check_report(report, rows: list[dict]) -> None:
    assert report.counts["rows"] == len(rows)
    metrics = report.to_json()["metrics"]
    assert all(v is None or isinstance(v, float) for v in metrics.values()), metrics
    # every row is either scored or one of the counted failures, and each failure has a reason
    failures = sum(report.failure_reasons.values())
    assert failures == round(metrics["parse_failure_rate"] * len(rows))
    assert all(isinstance(reason, str) and reason.strip() for reason in report.failure_reasons)
    assert all(len(reason) <= 160 for reason in report.failure_reasons)  # garbage is not echoed in full


@pytest.mark.timeout(600)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task, mode", CASES, ids=[f"{t}-{m}" if m else t for t, m in CASES])
def test_every_hostile_answer_is_scored_or_counted(task, mode, family):
    rows, answers = _rows_and_answers(task, family, mode)
    report = get_task(task).score(rows, answers, family)
    _check_report(report, rows)
    if task == "rewardbench" and mode == "pairwise":  # an unreadable verdict scores 0.5, never crashes the pair
        assert {r["score"] for r in report.per_row} <= {0.0, 0.5, 1.0}


@pytest.mark.timeout(600)
def test_score_cli_completes_on_a_file_of_hostile_answers(tmp_path, capsys):
    rows, answers = _rows_and_answers("textdet", "qwen2_vl", "")
    predictions = [{"prompt": "q", "label": "", "predict": answers[row["id"]]} for row in rows]
    pred_file, data_file = tmp_path / "generated_predictions.jsonl", tmp_path / "data.jsonl"
    pred_file.write_text("".join(json.dumps(p) + "\n" for p in predictions))  # NULs travel as \u0000
    data_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["score", "textdet", str(pred_file), "--data", str(data_file), "--json", "--out", str(tmp_path / "out")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["counts"]["rows"] == len(HOSTILE_ANSWERS)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(saved["per_row"]) == len(HOSTILE_ANSWERS)
    assert all(row["reason"] is None or row["reason"] for row in saved["per_row"])
    assert Path(tmp_path / "out" / "results.md").read_text().count("\n") > 5
