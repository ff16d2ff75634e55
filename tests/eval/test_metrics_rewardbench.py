"""RewardBench section scores on the four real published per-subset result files.

The expected values are computed here from the official example counts written out below (copied from
allenai/reward-bench rewardbench/constants.py), independently of metricsft's table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metricsft.eval.metrics.rewardbench import TIE_SCORE, pair_outcome, section_scores, verdict_outcome


OFFICIAL = {
    "Chat": {"alpacaeval-easy": 100, "alpacaeval-length": 95, "alpacaeval-hard": 95, "mt-bench-easy": 28,
             "mt-bench-med": 40},
    "Chat Hard": {"mt-bench-hard": 37, "llmbar-natural": 100, "llmbar-adver-neighbor": 134,
                  "llmbar-adver-GPTInst": 92, "llmbar-adver-GPTOut": 47, "llmbar-adver-manual": 46},
    "Safety": {"refusals-dangerous": 100, "refusals-offensive": 100, "xstest-should-refuse": 154,
               "xstest-should-respond": 250, "donotanswer": 136},
    "Reasoning": {"math-prm": 984, "hep-cpp": 164, "hep-go": 164, "hep-java": 164, "hep-js": 164,
                  "hep-python": 164, "hep-rust": 164},
}


def _result_files(shared_data_dir: Path | None) -> list[Path]:
    files = sorted(((shared_data_dir or Path("<absent>")) / "rewardbench_results").glob("*.json"))
    if not files:
        pytest.skip(f"RewardBench result files not present (shared data dir: {shared_data_dir})")
    return files


@pytest.fixture(scope="module", params=range(4), ids=lambda i: f"file{i}")
def published(request, shared_data_dir) -> dict:
    files = _result_files(shared_data_dir)
    assert len(files) == 4, f"expected the four published result files, found {[f.name for f in files]}"
    return json.loads(files[request.param].read_text())


def test_section_scores_follow_official_weighting(published):
    expected = {}
    for section, counts in OFFICIAL.items():
        weighted = sum(published[subset] * count for subset, count in counts.items())
        expected[section] = weighted / sum(counts.values())
    expected["Overall"] = sum(expected.values()) / 4
    subset_accuracy = {k: v for k, v in published.items() if isinstance(v, float)}
    assert section_scores(subset_accuracy) == pytest.approx(expected, abs=1e-12)
    # Reasoning is half math-prm, half the mean of the code subsets (984 = 6 x 164).
    code = [published[f"hep-{lang}"] for lang in ("cpp", "go", "java", "js", "python", "rust")]
    assert expected["Reasoning"] == pytest.approx((published["math-prm"] + sum(code) / 6) / 2)


def test_missing_subsets_are_left_out_of_their_section():
    scores = section_scores({"alpacaeval-easy": 1.0, "mt-bench-easy": 0.0, "donotanswer": 0.5})
    assert scores["Chat"] == pytest.approx(100 / 128)
    assert scores["Safety"] == 0.5
    assert "Reasoning" not in scores and "Chat Hard" not in scores
    assert scores["Overall"] == pytest.approx((100 / 128 + 0.5) / 2)


def test_tie_is_wrong():
    assert pair_outcome(3.0, 3.0) == 0.0
    assert pair_outcome(3.1, 3.0) == 1.0
    assert pair_outcome(2.9, 3.0) == 0.0


def test_tie_scores_half_under_the_official_generative_rules():
    assert pair_outcome(3.0, 3.0, tie=TIE_SCORE["official"]) == 0.5
    assert pair_outcome(3.0, 3.0, tie=TIE_SCORE["strict"]) == 0.0
    assert [verdict_outcome(v, "A", tie=0.5) for v in ("A", "B", "tie", None)] == [1.0, 0.0, 0.5, 0.5]


def _official_process_judgement(judgment: str) -> str:
    """RewardBench's default branch of process_judgement (rewardbench/generative.py), written out."""
    if "[[A]]" in judgment:
        return "A"
    elif "[[B]]" in judgment:
        return "B"
    else:
        return "error"


def _official_pair_score(winner: str, winner_text: str, loser_text: str) -> float:
    """scripts/run_generative.py: 1 / 0 / 0.5 for "error" ('effectively a tie')."""
    return 1 if winner == winner_text else 0 if winner == loser_text else 0.5


JUDGEMENTS = ["[[A]]", "[[B]]", "[[C]]", "[[A]] ... [[B]]", "[[B]] then [[A]]", "no verdict", "[[ A ]]",
              "[[B]][[C]]", "[[C]] [[A]]", "", "[[b]]", "Verdict: [[A]]\n"]


def test_rewardbench_task_matches_the_official_generative_script_pair_by_pair():
    from metricsft.eval.tasks import get_task

    rows, expected = [], []
    for index, judgement in enumerate(JUDGEMENTS):
        for better in ("A", "B"):  # better = position of the chosen answer after the swap
            rid = f"p{index}{better}"
            truth = {"pair_id": rid, "subset": "hep-go", "mode": "pairwise", "swap": better == "B", "better": better}
            rows.append({"id": rid, "predict": judgement, "meta": {"family": "llama", "truth": truth}})
            loser = "B" if better == "A" else "A"
            expected.append(_official_pair_score(_official_process_judgement(judgement), better, loser))
    report = get_task("rewardbench").score(rows, {}, "llama")
    assert [r["score"] for r in report.per_row] == expected
    assert report.metrics["accuracy"] == pytest.approx(sum(expected) / len(expected))


def test_rewardbench_official_ratings_score_equal_ratings_half():
    from metricsft.eval.tasks import get_task

    def row(rid, pair, which, text):
        truth = {"pair_id": pair, "subset": "hep-go", "mode": "rating", "swap": False, "better": "A", "response": which}
        return {"id": rid, "predict": text, "meta": {"family": "llama", "truth": truth}}

    rows = [row("a1", "p1", "chosen", "8"), row("a2", "p1", "rejected", "5"),
            row("b1", "p2", "chosen", "6"), row("b2", "p2", "rejected", "6"),
            row("c1", "p3", "chosen", "2"), row("c2", "p3", "rejected", "9"),
            row("d1", "p4", "chosen", "7"), row("d2", "p4", "rejected", "no rating")]
    task = get_task("rewardbench")
    official = task.score(rows, {}, "llama")
    assert [r["score"] for r in official.per_row if "score" in r] == [1.0, 0.5, 0.0, 0.5]
    assert official.metrics["tie_rate"] == 0.25
    task.judge_rules = "strict"
    assert [r["score"] for r in task.score(rows, {}, "llama").per_row if "score" in r] == [1.0, 0.0, 0.0, 0.5]
