"""The runner: answer cache, resume, result files; with the real HF backend and real tasks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from metricsft.eval.backends.hf import HFBackend
from metricsft.eval.runner import AnswerCache, EvalArguments, run_eval
from metricsft.eval.tasks import get_task
from tests.assets.build_assets import asset_path
from tests.eval.servers.models import build_tiny_text_model


@pytest.fixture(scope="module")
def tiny_text_model(tmp_path_factory) -> Path:
    return build_tiny_text_model(asset_path("qwen2"), tmp_path_factory.mktemp("tiny_qwen2"))


def gsm8k_rows(n: int) -> list[dict]:
    """Rows in the converted format, written here: question, solution, truth."""
    rows = []
    for i in range(n):
        a, b = 3 + i, 7 + 2 * i
        rows.append({
            "id": f"gsm8k/test/{i}",
            "messages": [
                {"role": "user", "content": f"Tom has {a} apples and buys {b} more. How many apples does he have?"},
                {"role": "assistant", "content": f"He has {a} + {b} = {a + b} apples.\n#### {a + b}"},
            ],
            "meta": {"task": "gsm8k", "family": "llama", "truth": {"answer": str(a + b)}},
        })
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cache_drops_a_torn_last_line_and_keeps_the_rest(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_bytes(b'{"id": "a", "answer": "1"}\n{"id": "b", "answer": "2"}\n{"id": "c", "ans')
    cache = AnswerCache(path)
    assert cache.answers == {"a": "1", "b": "2"} and cache.dropped_torn_line
    cache.append("c", "3")
    cache.close()
    assert read_jsonl(path) == [{"id": "a", "answer": "1"}, {"id": "b", "answer": "2"}, {"id": "c", "answer": "3"}]


@pytest.mark.parametrize("content, message", [
    (b'{"id": "a", "answer": "1"}\nnot json\n{"id": "b", "answer": "2"}\n', r"answers.jsonl:2: not an answer record"),
    (b'{"id": "a", "answer": "1"}\n{"id": "a", "answer": "1"}\n', r"answers.jsonl:2: row id 'a' is cached twice"),
])
def test_cache_refuses_what_a_crash_cannot_produce(tmp_path, content, message):
    (tmp_path / "answers.jsonl").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        AnswerCache(tmp_path / "answers.jsonl")


def test_cache_never_writes_an_id_twice(tmp_path):
    cache = AnswerCache(tmp_path / "answers.jsonl")
    cache.append("a", "x")
    with pytest.raises(ValueError, match="already cached"):
        cache.append("a", "y")


def test_run_writes_answers_results_and_predictions(tiny_text_model, tmp_path):
    rows = gsm8k_rows(5)
    data = write_rows(tmp_path / "gsm8k.jsonl", rows)
    args = EvalArguments(task="gsm8k", data=str(data), family="llama", out=str(tmp_path / "out"), backend="hf",
                         model=str(tiny_text_model), batch_size=2, max_new_tokens=12, progress=False)
    results = run_eval(args)

    # The answers are exactly what the backend produces for each row, filed under that row's id.
    task = get_task("gsm8k")
    requests = [task.request(r, "llama") for r in rows]
    for r in requests:
        r.max_new_tokens = 12
    raw = dict(HFBackend(str(tiny_text_model), batch_size=1).generate(requests))
    cached = read_jsonl(tmp_path / "out" / "answers.jsonl")
    assert {c["id"]: c["answer"] for c in cached} == raw and len(cached) == 5

    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert on_disk["metrics"] == task.score(rows, raw, "llama").metrics
    assert on_disk["run"]["rows"] == 5 and on_disk["run"]["generated_now"] == 5
    assert on_disk["run"]["backend"]["backend"] == "hf" and "transformers" in on_disk["run"]["versions"]
    assert "| rows | 5 (5 generated now, 0 from cache) |" in (tmp_path / "out" / "results.md").read_text()

    predictions = read_jsonl(tmp_path / "out" / "generated_predictions.jsonl")
    assert [p["id"] for p in predictions] == [r["id"] for r in rows]
    assert [p["predict"] for p in predictions] == [raw[r["id"]] for r in rows]
    assert [p["label"] for p in predictions] == [r["messages"][1]["content"] for r in rows]
    assert [p["prompt"] for p in predictions] == [r["messages"][0]["content"] for r in rows]


def test_resume_generates_only_missing_rows_and_refuses_other_settings(tiny_text_model, tmp_path):
    data = write_rows(tmp_path / "gsm8k.jsonl", gsm8k_rows(6))
    base = dict(task="gsm8k", data=str(data), family="llama", out=str(tmp_path / "out"), backend="hf",
                model=str(tiny_text_model), max_new_tokens=6, progress=False)
    first = run_eval(EvalArguments(**base, limit=2))
    assert (first["run"]["generated_now"], first["counts"]["rows"]) == (2, 2)
    second = run_eval(EvalArguments(**base))
    assert (second["run"]["generated_now"], second["run"]["from_cache"]) == (4, 2)
    third = run_eval(EvalArguments(**base))  # all cached: the model is not even loaded
    assert third["run"]["generated_now"] == 0 and third["run"]["backend"] is None
    assert third["metrics"] == second["metrics"]
    ids = [c["id"] for c in read_jsonl(tmp_path / "out" / "answers.jsonl")]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 6

    with pytest.raises(ValueError, match=r"other settings \(max_new_tokens: cached 6, now 7\)"):
        run_eval(EvalArguments(**{**base, "max_new_tokens": 7}))


def test_duplicate_row_ids_are_refused(tiny_text_model, tmp_path):
    rows = gsm8k_rows(2)
    rows[1]["id"] = rows[0]["id"]
    data = write_rows(tmp_path / "gsm8k.jsonl", rows)
    args = EvalArguments(task="gsm8k", data=str(data), family="llama", out=str(tmp_path / "out"), backend="hf",
                         model=str(tiny_text_model), progress=False)
    with pytest.raises(ValueError, match=r"rows 0 and 1 share the id 'gsm8k/test/0'"):
        run_eval(args)


def test_smollm2_on_real_gsm8k_questions(smollm2_path, shared_data_dir, tmp_path):
    if shared_data_dir is None:
        pytest.skip("../shared/data (real GSM8k test set) is not present")
    source = [json.loads(line) for line in (shared_data_dir / "gsm8k" / "test.jsonl").read_text().splitlines()[:4]]
    rows = [{
        "id": f"gsm8k/test/{i}",
        "messages": [{"role": "user", "content": s["question"]}, {"role": "assistant", "content": s["answer"]}],
        "meta": {"task": "gsm8k", "family": "llama",
                 "truth": {"answer": s["answer"].split("####")[-1].strip().replace(",", "")}},
    } for i, s in enumerate(source)]
    data = write_rows(tmp_path / "gsm8k.jsonl", rows)
    results = run_eval(EvalArguments(task="gsm8k", data=str(data), family="llama", out=str(tmp_path / "out"),
                                     backend="hf", model=str(smollm2_path), batch_size=4, max_new_tokens=160,
                                     progress=False))
    answers = {c["id"]: c["answer"] for c in read_jsonl(tmp_path / "out" / "answers.jsonl")}
    assert all(len(a.split()) > 3 for a in answers.values())  # a real model writes sentences, not noise

    # flexible-extract recomputed here from lm-evaluation-harness's rule (last number-like match).
    def flexible(text: str) -> str | None:
        found = re.findall(r"(-?[$0-9.,]{2,})|(-?[0-9]+)", text)
        if not found:
            return None
        value = [g for g in found[-1] if g][0]
        return value.replace(",", "").replace("$", "").rstrip(".")

    expected = sum(flexible(answers[r["id"]]) == r["meta"]["truth"]["answer"] for r in rows) / len(rows)
    assert results["metrics"]["flexible_extract"] == pytest.approx(expected)
    assert (tmp_path / "out" / "results.md").exists()
