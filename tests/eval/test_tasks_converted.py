"""Tasks scoring rows written by the real `metricsft data convert` (contract check between the two sides)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from metricsft.data.cli import data_main
from metricsft.eval.tasks import get_task



def _convert(task: str, src: str | Path, out: Path, *extra: str) -> Path:
    assert data_main(["convert", task, "--src", str(src), "--format", "llama", "--out", str(out), "--quiet", *extra]) == 0
    (path,) = out.glob("*.jsonl")
    return path


def _own_answers(rows: list[dict]) -> dict[str, str]:
    return {row["id"]: row["messages"][-1]["content"] for row in rows}


def test_gsm8k_converted_real_test_set_with_real_model_solutions(tmp_path, shared_data_dir):
    gsm8k = (shared_data_dir or Path("<absent>")) / "gsm8k"
    test, solutions = gsm8k / "test.jsonl", gsm8k / "example_model_solutions.jsonl"
    if not (test.exists() and solutions.exists()):
        pytest.skip(f"GSM8k real data not present under {test.parent}")
    task = get_task("gsm8k")
    rows = task.read_rows(_convert("gsm8k", test, tmp_path))
    assert len(rows) == 1319
    # the converted reference solutions score 100% under every rule
    own = task.score(rows, _own_answers(rows), "llama")
    assert own.metrics == {"strict_match": 1.0, "flexible_extract": 1.0, "numeric": 1.0, "parse_failure_rate": 0.0}
    # real model solutions end in "A: N": no "#### ", so strict-match finds nothing, and flexible-extract
    # (the last number) reproduces the published labels row for row
    published = [json.loads(line)["175b_verification"] for line in solutions.open()]
    report = task.score(rows, {row["id"]: p["solution"] for row, p in zip(rows, published)}, "llama")
    assert report.metrics["strict_match"] == 0.0 and report.metrics["parse_failure_rate"] == 1.0
    assert [r["flexible_ok"] for r in report.per_row] == [p["is_correct"] for p in published]


def test_arithmetic_generated_rows_score_their_own_answers(tmp_path):
    task = get_task("arithmetic")
    rows = task.read_rows(_convert("arithmetic", "generate:arithmetic__mixed", tmp_path, "--limit", "12"))
    report = task.score(rows, _own_answers(rows), "llama")
    assert report.metrics["exact_match"] == 1.0 and report.metrics["strict_exact_match"] == 1.0
    # an answer that is off by one is wrong, the same value written differently is right
    shifted = {row["id"]: str(Fraction(row["meta"]["truth"]["answer"]) + 1) for row in rows}
    assert task.score(rows, shifted, "llama").metrics["exact_match"] == 0.0
    doubled = {}
    for row in rows:
        value = Fraction(row["meta"]["truth"]["answer"])
        doubled[row["id"]] = f"{value.numerator * 2}/{value.denominator * 2}"
    assert task.score(rows, doubled, "llama").metrics["exact_match"] == 1.0


def _pairs(tmp_path: Path) -> Path:
    records = [
        {"id": f"p{i}", "prompt": f"question {i}", "chosen": f"good answer {i}", "rejected": f"bad answer {i}", "subset": subset}
        for i, subset in enumerate(["alpacaeval-easy"] * 6 + ["hep-go"] * 4 + ["math-prm"] * 4)
    ]
    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    return src


def test_rewardbench_pairwise_rows_from_the_converter(tmp_path):
    task = get_task("rewardbench")
    rows = task.read_rows(_convert("rewardbench", _pairs(tmp_path), tmp_path / "out", "--mode", "pairwise"))
    swaps = [row["meta"]["truth"]["swap"] for row in rows]
    assert any(swaps) and not all(swaps)  # both positions occur, so undoing the swap matters
    perfect = task.score(rows, _own_answers(rows), "llama")
    assert perfect.metrics["Overall"] == 1.0 and perfect.metrics["accuracy"] == 1.0
    # a judge that always says [[A]] is right exactly on the unswapped pairs
    always_a = task.score(rows, {row["id"]: "[[A]]" for row in rows}, "llama")
    assert always_a.metrics["accuracy"] == pytest.approx(swaps.count(False) / len(rows))


def test_rewardbench_rating_rows_from_the_converter(tmp_path):
    task = get_task("rewardbench")
    rows = task.read_rows(_convert("rewardbench", _pairs(tmp_path), tmp_path / "out", "--mode", "rating"))
    assert len(rows) == 28
    ratings = {row["id"]: ("8" if row["meta"]["truth"]["response"] == "chosen" else "3") for row in rows}
    assert task.score(rows, ratings, "llama").metrics["accuracy"] == 1.0
    flat = {row["id"]: "Rating: 5" for row in rows}  # all ties: 0.5 each (RewardBench's rule), 0 under strict
    assert task.score(rows, flat, "llama").metrics["accuracy"] == 0.5
    task.judge_rules = "strict"
    assert task.score(rows, flat, "llama").metrics["accuracy"] == 0.0
