"""Clock converter: the TIME image-folder layout (class folders ``2-55`` / ``2_55``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.data.lf_loading import load_with_llamafactory, run_cli, supervised_text


def write_time_dataset(root: Path) -> Path:
    for relative in ("test/2-55/a.jpg", "test/11_05/b.png", "test/11_05/c.jpg", "train/12-00/d.jpg"):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 24)).save(path)
    return root


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_time_folders_to_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_time_dataset(tmp_path / "TIME")
    code, _, err = run_cli(["convert", "clock", "--src", str(src), "--split", "test", "--format", "qwen2_vl",
                            "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert code == 0, err
    rows = rows_of(tmp_path / "out" / "clock_test_qwen2_vl.jsonl")
    assert [r["id"] for r in rows] == ["clock/test/11_05/b", "clock/test/11_05/c", "clock/test/2-55/a"]
    assert [r["meta"]["truth"] for r in rows] == [{"hour": 11, "minute": 5}, {"hour": 11, "minute": 5}, {"hour": 2, "minute": 55}]
    assert [r["messages"][1]["content"] for r in rows] == ["11:05", "11:05", "2:55"]
    assert rows[0]["meta"]["image_size"] == [32, 24]


def test_clock_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_time_dataset(tmp_path / "TIME")
    for relative in ("test/13-70/x.jpg", "test/misc/y.jpg"):
        (src / relative).parent.mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(src / relative)
    (src / "test" / "2-55" / "broken.jpg").write_bytes(b"not an image")
    base = ["convert", "clock", "--src", str(src), "--split", "test", "--format", "llava", "--out", str(tmp_path / "out"), "--quiet"]
    code, _, err = run_cli(base, capsys)
    assert code == 2 and f"{src / 'test' / '13-70' / 'x.jpg'}: bad time: folder '13-70'" in err
    code, stdout, _ = run_cli(base + ["--skip-invalid"], capsys)
    assert code == 0 and "wrote 3 rows" in stdout
    for reason in ("bad time: 1", "malformed row: 1", "unreadable image: 1"):
        assert reason in stdout
    code, _, err = run_cli(base[:4] + ["--split", "val"] + base[6:], capsys)
    assert code == 2 and "no split folder 'val'" in err and "test, train" in err


def test_llamafactory_loads_clock_for_paligemma(tmp_path: Path, capsys: pytest.CaptureFixture[str], gemma_loc_tokenizer) -> None:
    src = write_time_dataset(tmp_path / "TIME")
    assert run_cli(["convert", "clock", "--src", str(src), "--split", "test", "--format", "paligemma",
                    "--out", str(tmp_path / "out"), "--quiet"], capsys)[0] == 0
    dataset, tokenizer = load_with_llamafactory(tmp_path / "out", "clock_test_paligemma", "paligemma", gemma_loc_tokenizer, tmp_path)
    rows = rows_of(tmp_path / "out" / "clock_test_paligemma.jsonl")
    assert len(dataset) == 3
    for example, row in zip(dataset, rows):
        assert supervised_text(example, tokenizer) == row["messages"][1]["content"] + tokenizer.eos_token
