"""GSM8k and mathematics_dataset arithmetic converters (text only)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
import sympy

from tests.data.lf_loading import load_with_llamafactory, run_cli, supervised_text

GSM8K_LINES = [
    {"question": "Tom has 1,200 apples and buys 300 more. How many?", "answer": "1,200 + 300 = <<1200+300=1500>>1,500\n#### 1,500"},
    {"question": "A debt of 5 grows by 3. Net?", "answer": "0 - 5 - 3 = <<0-5-3=-8>>-8\n#### -8"},
]


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_gsm8k(path: Path) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in GSM8K_LINES))


def test_gsm8k_fixture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_gsm8k(tmp_path / "test.jsonl")
    code, stdout, _ = run_cli(["convert", "gsm8k", "--src", str(tmp_path / "test.jsonl"), "--format", "llama", "--out", str(tmp_path / "out")], capsys)
    assert code == 0 and "wrote 2 rows" in stdout and '"id": "gsm8k/test/0"' in stdout  # prints the first row
    rows = rows_of(tmp_path / "out" / "gsm8k_llama.jsonl")
    assert [r["meta"]["truth"] for r in rows] == [{"answer": "1500"}, {"answer": "-8"}]
    assert rows[0]["messages"][1]["content"] == "1,200 + 300 = 1,500\n#### 1500"
    assert rows[0]["messages"][0]["content"].startswith(GSM8K_LINES[0]["question"])
    assert "images" not in rows[0] and "images" not in json.loads((tmp_path / "out" / "dataset_info.json").read_text())["gsm8k_llama"]["columns"]
    run_cli(["convert", "gsm8k", "--src", str(tmp_path / "test.jsonl"), "--format", "llama", "--out", str(tmp_path / "out"),
             "--keep-calculator", "--name", "calc", "--quiet"], capsys)
    assert rows_of(tmp_path / "out" / "calc.jsonl")[1]["messages"][1]["content"] == "0 - 5 - 3 = <<0-5-3=-8>>-8\n#### -8"


def test_real_gsm8k_test_set_keeps_all_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_data_dir: Path | None) -> None:
    if shared_data_dir is None or not (shared_data_dir / "gsm8k" / "test.jsonl").exists():
        pytest.skip("shared GSM8k test set not present (../shared/data is optional)")
    src = shared_data_dir / "gsm8k" / "test.jsonl"
    code, _, _ = run_cli(["convert", "gsm8k", "--src", str(src), "--format", "qwen2_vl", "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 0
    expected = [json.loads(line)["answer"].split("####")[-1].strip().replace(",", "") for line in src.read_text().splitlines()]
    rows = rows_of(tmp_path / "gsm8k_qwen2_vl.jsonl")
    assert len(expected) == len(rows) == 1319
    assert [r["meta"]["truth"]["answer"] for r in rows] == expected
    assert all(r["messages"][1]["content"].endswith(f"\n#### {a}") for r, a in zip(rows, expected))
    assert len({r["id"] for r in rows}) == 1319


def test_gsm8k_bad_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "test.jsonl"
    src.write_text(json.dumps(GSM8K_LINES[0]) + "\n" + json.dumps({"question": "q", "answer": "no marker"}) + "\n[1, 2]\n")
    code, _, err = run_cli(["convert", "gsm8k", "--src", str(src), "--format", "llama", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and f"{src}:2: no final answer: the 'answer' field has no '#### N' final answer" in err
    code, stdout, _ = run_cli(["convert", "gsm8k", "--src", str(src), "--format", "llama", "--out", str(tmp_path / "out"), "--skip-invalid", "--quiet"], capsys)
    assert code == 0 and "skipped 2 invalid records" in stdout and "no final answer: 1" in stdout and "malformed row: 1" in stdout


def exact_value(question: str) -> sympy.Rational:
    """Evaluate a generated arithmetic question with sympy's exact rationals (independent of the generator)."""
    expression = re.sub(r"^(What is the value of|What is|Evaluate|Calculate)\s+", "", question.strip()).rstrip("?.")
    return sympy.sympify(expression, rational=True)


def test_arithmetic_generated_is_seeded_and_correct(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["convert", "arithmetic", "--src", "generate:arithmetic__mixed", "--limit", "30", "--format", "llama", "--quiet"]
    assert run_cli(args + ["--seed", "0", "--out", str(tmp_path / "a")], capsys)[0] == 0
    assert run_cli(args + ["--seed", "0", "--out", str(tmp_path / "b")], capsys)[0] == 0
    assert run_cli(args + ["--seed", "1", "--out", str(tmp_path / "c")], capsys)[0] == 0
    first = (tmp_path / "a" / "arithmetic_llama.jsonl").read_text()
    assert first == (tmp_path / "b" / "arithmetic_llama.jsonl").read_text()
    assert first != (tmp_path / "c" / "arithmetic_llama.jsonl").read_text()
    rows = [json.loads(line) for line in first.splitlines()]
    assert len(rows) == 30 and rows[0]["id"] == "arithmetic/arithmetic__mixed/train/seed0/0"
    for row in rows:
        question = row["messages"][0]["content"].split("\n")[0]
        answer = row["messages"][1]["content"]
        assert row["meta"]["truth"] == {"answer": answer}
        assert exact_value(question) == sympy.Rational(answer), (question, answer)
    # the sympy shim was only applied while importing mathematics_dataset
    assert not hasattr(importlib.import_module("sympy.solvers.diophantine"), "base_solution_linear")


def test_arithmetic_from_released_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "train-easy" / "arithmetic__add_or_sub.txt"
    src.parent.mkdir()
    src.write_text("What is 2 + 3?\n5\nCalculate -1 - 0.5.\n-1.5\nWhat is 1 + 1?\n")
    base = ["convert", "arithmetic", "--src", str(src), "--format", "llama", "--out", str(tmp_path / "out"), "--quiet"]
    code, _, err = run_cli(base, capsys)
    assert code == 2 and f"{src}:5: malformed row: expected a question line followed by an answer line" in err
    code, stdout, _ = run_cli(base + ["--skip-invalid"], capsys)
    assert code == 0 and "wrote 2 rows" in stdout
    rows = rows_of(tmp_path / "out" / "arithmetic_llama.jsonl")
    assert [r["meta"]["truth"]["answer"] for r in rows] == ["5", "-1.5"]
    assert rows[1]["id"] == "arithmetic/arithmetic__add_or_sub/train-easy/1" and rows[1]["meta"]["split"] == "train-easy"
    code, _, err = run_cli(["convert", "arithmetic", "--src", "generate:arithmetic__mixed", "--split", "hardest", "--format", "llama",
                            "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "unknown arithmetic split 'hardest'" in err


def test_llamafactory_loads_gsm8k_and_arithmetic(tmp_path: Path, capsys: pytest.CaptureFixture[str], llama3_tokenizer) -> None:
    write_gsm8k(tmp_path / "test.jsonl")
    assert run_cli(["convert", "gsm8k", "--src", str(tmp_path / "test.jsonl"), "--format", "llama", "--out", str(tmp_path / "out"), "--quiet"], capsys)[0] == 0
    assert run_cli(["convert", "arithmetic", "--src", "generate:arithmetic__mul", "--limit", "3", "--format", "llama",
                    "--out", str(tmp_path / "out"), "--quiet"], capsys)[0] == 0
    dataset, tokenizer = load_with_llamafactory(tmp_path / "out", "gsm8k_llama,arithmetic_llama", "llama", llama3_tokenizer, tmp_path)
    rows = rows_of(tmp_path / "out" / "gsm8k_llama.jsonl") + rows_of(tmp_path / "out" / "arithmetic_llama.jsonl")
    assert [supervised_text(e, tokenizer) for e in dataset] == [r["messages"][1]["content"] + "<|eot_id|>" for r in rows]
