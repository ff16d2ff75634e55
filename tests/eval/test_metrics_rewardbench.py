"""RewardBench section scores on the four real published per-subset result files.

The expected values are computed here from the official example counts written out below (copied from
allenai/reward-bench rewardbench/constants.py), independently of metricsft's table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metricsft.eval.metrics.rewardbench import pair_outcome, section_scores


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
