"""How a conversion writes: atomically, merging dataset_info.json, never leaving half a dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metricsft.data.writer import write_dataset
from tests.data.lf_loading import run_cli

GOOD = {"question": "1 + 1?", "answer": "1 + 1 = 2\n#### 2"}


def gsm8k(tmp_path: Path, capsys, src: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(["convert", "gsm8k", "--src", str(src), "--format", "llama", "--out", str(tmp_path / "out"), "--quiet", *extra], capsys)


def test_dataset_info_is_merged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir()
    other = {"file_name": "mine.json", "formatting": "alpaca"}
    (tmp_path / "out" / "dataset_info.json").write_text(json.dumps({"mine": other}))
    (tmp_path / "test.jsonl").write_text(json.dumps(GOOD) + "\n")
    assert gsm8k(tmp_path, capsys, tmp_path / "test.jsonl")[0] == 0
    assert gsm8k(tmp_path, capsys, tmp_path / "test.jsonl", "--name", "second")[0] == 0
    info = json.loads((tmp_path / "out" / "dataset_info.json").read_text())
    assert info["mine"] == other
    assert info["gsm8k_llama"] == {
        "file_name": "gsm8k_llama.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant", "system_tag": "system"},
    }
    assert info["second"]["file_name"] == "second.jsonl"


def test_failed_conversion_leaves_previous_output_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "test.jsonl").write_text(json.dumps(GOOD) + "\n")
    assert gsm8k(tmp_path, capsys, tmp_path / "test.jsonl")[0] == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    (tmp_path / "test.jsonl").write_text(json.dumps(GOOD) + "\n" + json.dumps({"question": "q", "answer": "none"}) + "\n")
    code, _, err = gsm8k(tmp_path, capsys, tmp_path / "test.jsonl")
    assert code == 2 and "test.jsonl:2" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


def test_writer_removes_its_temporary_file_when_a_row_cannot_be_written(tmp_path: Path) -> None:
    rows = [{"id": "a", "messages": []}, {"id": "b", "messages": [], "meta": {"bad": {1, 2}}}]  # a set is not JSON
    with pytest.raises(TypeError):
        write_dataset(tmp_path, "broken", rows)
    assert list(tmp_path.iterdir()) == []


def test_broken_dataset_info_and_bad_options_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "test.jsonl").write_text(json.dumps(GOOD) + "\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "dataset_info.json").write_text('{\n  "a": [1,\n}')
    code, _, err = gsm8k(tmp_path, capsys, tmp_path / "test.jsonl")
    assert code == 2 and f"{tmp_path / 'out' / 'dataset_info.json'}:3: existing dataset_info.json is not valid JSON" in err
    assert not (tmp_path / "out" / "gsm8k_llama.jsonl").exists()
    code, _, err = gsm8k(tmp_path, capsys, tmp_path / "test.jsonl", "--limit", "0")
    assert code == 2 and "--limit must be at least 1" in err
    code, _, err = gsm8k(tmp_path, capsys, tmp_path / "nowhere.jsonl")
    assert code == 2 and "nowhere.jsonl: no such file or folder" in err
    (tmp_path / "dup.jsonl").write_text(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r", "subset": "s", "id": 1}) + "\n"
                                        + json.dumps({"prompt": "p", "chosen": "c", "rejected": "r", "subset": "s", "id": 1}) + "\n")
    code, _, err = run_cli(["convert", "rewardbench", "--src", str(tmp_path / "dup.jsonl"), "--format", "llama", "--out", str(tmp_path / "o2"), "--quiet"], capsys)
    assert code == 2 and "duplicate row id 'rewardbench/pairwise/1'" in err
