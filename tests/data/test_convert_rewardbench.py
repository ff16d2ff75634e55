"""RewardBench converter: judge rows (pairwise with a seeded swap, per-response ratings) and
score-labelled reward training rows (HelpSteer attributes 0-4 or one overall 0-20 score)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.data.lf_loading import load_with_llamafactory, run_cli, supervised_text

SUBSETS = ["alpacaeval-easy", "mt-bench-hard", "refusals-dangerous", "math-prm", "hep-python"]


def write_pairs(path: Path, count: int = 24) -> list[dict]:
    """Rows with the columns of allenai/reward-bench's filtered split."""
    pairs = [
        {"prompt": f"Question {i}: what is {i} + {i}?", "chosen": f"GOOD answer {i}: {2 * i}", "chosen_model": "gpt-4",
         "rejected": f"BAD answer {i}: {2 * i + 1}", "rejected_model": "llama", "subset": SUBSETS[i % len(SUBSETS)], "id": 1000 + i}
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return pairs


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def convert(tmp_path: Path, capsys, src: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(["convert", "rewardbench", "--src", str(src), "--out", str(tmp_path / "out"), "--quiet", *extra], capsys)


def test_pairwise_rows_record_a_seeded_swap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = write_pairs(tmp_path / "filtered.jsonl")
    assert convert(tmp_path, capsys, tmp_path / "filtered.jsonl", "--format", "llama", "--seed", "3")[0] == 0
    rows = rows_of(tmp_path / "out" / "rewardbench_pairwise_llama.jsonl")
    assert len(rows) == len(pairs)
    for row, pair in zip(rows, pairs):
        truth, prompt = row["meta"]["truth"], row["messages"][0]["content"]
        assert row["id"] == f"rewardbench/pairwise/{pair['id']}"
        assert truth["pair_id"] == str(pair["id"]) and truth["subset"] == pair["subset"] and truth["mode"] == "pairwise"
        chosen_first = prompt.index(pair["chosen"]) < prompt.index(pair["rejected"])
        assert truth["swap"] is (not chosen_first)
        assert truth["better"] == ("A" if chosen_first else "B")
        assert row["messages"][1]["content"] == f"[[{truth['better']}]]"
    swaps = [r["meta"]["truth"]["swap"] for r in rows]
    assert 0 < sum(swaps) < len(swaps)  # both positions occur

    # same seed: same swaps, also when only a prefix is converted; another seed: other swaps
    assert convert(tmp_path, capsys, tmp_path / "filtered.jsonl", "--format", "llama", "--seed", "3", "--limit", "5", "--name", "few")[0] == 0
    assert [r["meta"]["truth"]["swap"] for r in rows_of(tmp_path / "out" / "few.jsonl")] == swaps[:5]
    assert convert(tmp_path, capsys, tmp_path / "filtered.jsonl", "--format", "llama", "--seed", "4", "--name", "other")[0] == 0
    assert [r["meta"]["truth"]["swap"] for r in rows_of(tmp_path / "out" / "other.jsonl")] != swaps


def test_rating_rows_two_per_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = write_pairs(tmp_path / "filtered.jsonl", count=3)
    assert convert(tmp_path, capsys, tmp_path / "filtered.jsonl", "--format", "qwen2_vl", "--mode", "rating")[0] == 0
    rows = rows_of(tmp_path / "out" / "rewardbench_rating_qwen2_vl.jsonl")
    assert [r["id"] for r in rows] == [f"rewardbench/rating/{p['id']}/{w}" for p in pairs for w in ("chosen", "rejected")]
    assert rows[1]["meta"]["truth"]["response"] == "rejected" and pairs[0]["rejected"] in rows[1]["messages"][0]["content"]
    assert pairs[0]["chosen"] not in rows[1]["messages"][0]["content"]
    assert "images" not in rows[0]


def test_score_labelled_training_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    helpsteer = {"prompt": ["p0", "p1"], "response": ["r0", "r1"], "helpfulness": [3, 4], "correctness": [3, 4],
                 "coherence": [4, 4], "complexity": [2, 1], "verbosity": [1, 2]}
    pq.write_table(pa.table(helpsteer), tmp_path / "helpsteer.parquet")
    assert convert(tmp_path, capsys, tmp_path / "helpsteer.parquet", "--format", "llama")[0] == 0
    rows = rows_of(tmp_path / "out" / "rewardbench_scores_llama.jsonl")
    assert rows[1]["messages"][1]["content"] == "helpfulness: 4, correctness: 4, coherence: 4, complexity: 1, verbosity: 2"
    assert rows[1]["meta"]["truth"] == {"mode": "scores", "scores": {"helpfulness": 4, "correctness": 4, "coherence": 4,
                                                                     "complexity": 1, "verbosity": 2}, "range": [0, 4]}
    (tmp_path / "overall.jsonl").write_text(
        json.dumps({"prompt": "p", "response": "r", "score": 17}) + "\n"
        + json.dumps({"prompt": "p", "response": "r", "score": 23}) + "\n"
        + json.dumps({"prompt": "p", "response": "r", "score": "high"}) + "\n"
    )
    code, _, err = convert(tmp_path, capsys, tmp_path / "overall.jsonl", "--format", "llama", "--name", "overall")
    assert code == 2 and f"{tmp_path / 'overall.jsonl'}:2: score out of range: score=23 is outside 0..20" in err
    code, stdout, _ = convert(tmp_path, capsys, tmp_path / "overall.jsonl", "--format", "llama", "--name", "overall", "--skip-invalid")
    assert code == 0 and "score out of range: 1" in stdout and "malformed row: 1" in stdout
    (row,) = rows_of(tmp_path / "out" / "overall.jsonl")
    assert row["messages"][1]["content"] == "17" and "0 to 20" in row["messages"][0]["content"]


def test_rewardbench_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pairs(tmp_path / "filtered.jsonl", count=2)
    with open(tmp_path / "filtered.jsonl", "a") as handle:
        handle.write(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n")
    code, _, err = convert(tmp_path, capsys, tmp_path / "filtered.jsonl", "--format", "llama")
    assert code == 2 and f"{tmp_path / 'filtered.jsonl'}:3: malformed row: a pair needs non-empty string fields" in err
    code, _, err = convert(tmp_path, capsys, tmp_path / "filtered.jsonl", "--format", "llama", "--mode", "vibes")
    assert code == 2 and "--mode must be auto or one of pairwise, rating, scores" in err


def test_llamafactory_loads_judge_and_score_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str], llama3_tokenizer) -> None:
    write_pairs(tmp_path / "filtered.jsonl", count=4)
    (tmp_path / "helpsteer.jsonl").write_text(json.dumps({"prompt": "p", "response": "r", "helpfulness": 2, "verbosity": 0}) + "\n")
    assert convert(tmp_path, capsys, tmp_path / "filtered.jsonl", "--format", "llama")[0] == 0
    assert convert(tmp_path, capsys, tmp_path / "filtered.jsonl", "--format", "llama", "--mode", "rating")[0] == 0
    assert convert(tmp_path, capsys, tmp_path / "helpsteer.jsonl", "--format", "llama")[0] == 0
    names = ["rewardbench_pairwise_llama", "rewardbench_rating_llama", "rewardbench_scores_llama"]
    dataset, tokenizer = load_with_llamafactory(tmp_path / "out", ",".join(names), "llama", llama3_tokenizer, tmp_path)
    rows = [row for name in names for row in rows_of(tmp_path / "out" / f"{name}.jsonl")]
    assert len(rows) == 4 + 8 + 1
    # rating rows have no gold answer: LLaMA-Factory keeps them with an empty assistant turn
    assert [supervised_text(e, tokenizer) for e in dataset] == [r["messages"][1]["content"] + "<|eot_id|>" for r in rows]
