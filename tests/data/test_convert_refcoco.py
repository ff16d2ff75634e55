"""RefCOCO converter: official refs pickle + instances.json, JSON/JSONL/Parquet records, the real
RefCOCO-style file, and bad input."""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from qwen_vl_utils import smart_resize

from tests.data.lf_loading import load_with_llamafactory, run_cli, supervised_text


def write_official(root: Path) -> Path:
    """A tiny RefCOCO in the refer toolkit's layout (refs(unc).p + instances.json + images)."""
    folder = root / "refcoco"
    (folder / "images").mkdir(parents=True)
    Image.new("RGB", (200, 100), "white").save(folder / "images" / "COCO_train2014_000000000001.jpg")
    Image.new("RGB", (60, 120), "white").save(folder / "images" / "COCO_train2014_000000000002.jpg")
    instances = {
        "images": [
            {"id": 1, "file_name": "COCO_train2014_000000000001.jpg", "width": 200, "height": 100},
            {"id": 2, "file_name": "COCO_train2014_000000000002.jpg", "width": 60, "height": 120},
        ],
        "annotations": [
            {"id": 11, "image_id": 1, "bbox": [20.0, 10.0, 80.0, 80.0], "category_id": 1},
            {"id": 12, "image_id": 2, "bbox": [6.0, 30.0, 30.0, 60.0], "category_id": 1},
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    (folder / "instances.json").write_text(json.dumps(instances))
    refs = [
        {"ref_id": 0, "ann_id": 11, "image_id": 1, "split": "val", "category_id": 1, "sent_ids": [0, 1],
         "file_name": "COCO_train2014_000000000001_11.jpg",
         "sentences": [{"tokens": ["left", "man"], "raw": "Left man", "sent_id": 0, "sent": "left man"},
                       {"tokens": ["guy"], "raw": "guy!", "sent_id": 1, "sent": "guy"}]},
        {"ref_id": 1, "ann_id": 12, "image_id": 2, "split": "train", "category_id": 1, "sent_ids": [2],
         "file_name": "COCO_train2014_000000000002_12.jpg",
         "sentences": [{"tokens": ["tall", "one"], "raw": "tall one", "sent_id": 2, "sent": "tall one"}]},
    ]
    (folder / "refs(unc).p").write_bytes(pickle.dumps(refs, protocol=2))
    return folder


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_official_layout_to_llava(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_official(tmp_path)
    out = tmp_path / "out"
    code, stdout, _ = run_cli(["convert", "refcoco", "--src", str(folder), "--allow-pickle", "--split", "val",
                               "--format", "llava", "--out", str(out), "--quiet"], capsys)
    assert code == 0, stdout
    rows = read_rows(out / "refcoco_val_llava.jsonl")
    assert [r["id"] for r in rows] == ["refcoco/val/0-0", "refcoco/val/0-1"]
    # xywh (20, 10, 80, 80) -> xyxy (20, 10, 100, 90); 200x100 padded to 200x200 with 50 px on top
    assert rows[0]["meta"]["truth"] == {"box": [20.0, 10.0, 100.0, 90.0], "phrase": "left man"}
    assert rows[0]["messages"][1]["content"] == "[0.100, 0.300, 0.500, 0.700]"
    assert rows[0]["messages"][0]["content"].startswith("<image>") and "left man" in rows[0]["messages"][0]["content"]
    assert rows[0]["images"] == [str((folder / "images" / "COCO_train2014_000000000001.jpg").resolve())]
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["refcoco_val_llava"]["columns"] == {"messages": "messages", "images": "images"}


def test_pickle_needs_opt_in_and_refuses_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_official(tmp_path)
    code, _, err = run_cli(["convert", "refcoco", "--src", str(folder), "--format", "llava", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--allow-pickle" in err and "refs(unc).p" in err

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    (folder / "refs(unc).p").write_bytes(pickle.dumps([Exploit()], protocol=2))
    code, _, err = run_cli(["convert", "refcoco", "--src", str(folder), "--allow-pickle", "--format", "llava",
                            "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "refusing to load global" in err and "mkdir" in err
    assert not marker.exists()


def test_records_layout_jsonl_and_parquet_to_qwen2_5_vl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (1000, 500)).save(tmp_path / "imgs" / "a.jpg")
    record = {"id": 7, "image": "a.jpg", "width": 1000, "height": 500, "sentences": ["red cup", "the cup"],
              "bbox": [100, 50, 100, 50], "split": "testA"}
    (tmp_path / "refs.jsonl").write_text(json.dumps(record) + "\n")
    out = tmp_path / "out"
    code, stdout, _ = run_cli(["convert", "refcoco", "--src", str(tmp_path / "refs.jsonl"), "--images", str(tmp_path / "imgs"),
                               "--format", "qwen2_5_vl", "--out", str(out), "--quiet"], capsys)
    assert code == 0
    rows = read_rows(out / "refcoco_qwen2_5_vl.jsonl")
    assert [r["id"] for r in rows] == ["refcoco/testA/7-0", "refcoco/testA/7-1"]
    h_bar, w_bar = smart_resize(500, 1000, 28, 3136, 12845056)
    expected = [round(v * s) for v, s in ((100, w_bar / 1000), (50, h_bar / 500), (200, w_bar / 1000), (100, h_bar / 500))]
    answer = json.loads(rows[0]["messages"][1]["content"].removeprefix("```json\n").removesuffix("\n```"))
    assert answer == [{"bbox_2d": expected, "label": "red cup"}]
    assert rows[0]["meta"]["min_pixels"] == 3136 and rows[0]["meta"]["max_pixels"] == 12845056

    # Hugging Face-style Parquet: the image embedded as bytes, no size columns (read from the image)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 32)).save(buffer, format="PNG")
    table = pa.table({"question_id": ["q1"], "answer": [["small box"]], "bbox": [[0.0, 0.0, 32.0, 16.0]],
                      "image": [{"bytes": buffer.getvalue(), "path": "x.png"}]})
    pq.write_table(table, tmp_path / "val.parquet")
    code, _, err = run_cli(["convert", "refcoco", "--src", str(tmp_path / "val.parquet"), "--format", "qwen2_vl",
                            "--out", str(out), "--quiet", "--name", "pq"], capsys)
    # 'answer' is deliberately not read as the phrase: it is too ambiguous a column name
    assert code == 2 and f"{tmp_path / 'val.parquet'}[row 0]: malformed row: no referring expression" in err
    table = table.rename_columns(["question_id", "expressions", "bbox", "image"])
    pq.write_table(table, tmp_path / "val.parquet")
    code, _, err = run_cli(["convert", "refcoco", "--src", str(tmp_path / "val.parquet"), "--format", "qwen2_vl",
                            "--out", str(out), "--quiet", "--name", "pq"], capsys)
    assert code == 0, err
    (row,) = read_rows(out / "pq.jsonl")
    assert row["messages"][1]["content"].endswith("<|box_start|>(0,0),(500,500)<|box_end|>")
    assert row["meta"]["image_size"] == [64, 32] and Path(row["images"][0]).read_bytes() == buffer.getvalue()
    assert set(json.loads((out / "dataset_info.json").read_text())) == {"refcoco_qwen2_5_vl", "pq"}


def test_real_refcoco_style_file_reproduces_qwen2_vl_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_data_dir: Path | None) -> None:
    if shared_data_dir is None or not (shared_data_dir / "refcocos" / "refcocos_test.json").exists():
        pytest.skip("shared RefCOCO-style file not present (../shared/data is optional)")
    src = shared_data_dir / "refcocos" / "refcocos_test.json"
    records = json.loads(src.read_text())
    for record in records:  # the images are not shipped: blank stand-ins of the recorded size
        path = tmp_path / "img" / record["image"]
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("L", (record["width"], record["height"])).save(path, format="PNG")
    out = tmp_path / "out"
    code, stdout, _ = run_cli(["convert", "refcoco", "--src", str(src), "--images", str(tmp_path / "img"), "--format", "qwen2_vl",
                               "--out", str(out), "--skip-invalid", "--quiet"], capsys)
    assert code == 0
    with_box = [r for r in records if r["normalized_solution"] is not None]
    assert f"skipped {len(records) - len(with_box)} invalid records (no box: {len(records) - len(with_box)})" in stdout
    rows = read_rows(out / "refcoco_qwen2_vl.jsonl")
    assert len(rows) == len(with_box)
    for row, record in zip(rows, with_box):
        x1, y1, x2, y2 = record["normalized_solution"]
        assert row["messages"][1]["content"].endswith(f"<|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>")
        assert row["meta"]["truth"]["phrase"] == record["normal_caption"]


def test_bad_records_name_file_and_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (100, 50)).save(tmp_path / "imgs" / "a.png")
    good = {"image": "a.png", "phrase": "dog", "bbox": [0, 0, 10, 10]}
    lines = [
        good,
        {"image": "missing.png", "phrase": "cat", "bbox": [0, 0, 10, 10]},
        {"image": "a.png", "phrase": "tree", "bbox": [90, 0, 30, 10]},
        {"image": "a.png", "phrase": "sky", "bbox": [0, 0, 10, 10], "width": 640, "height": 480},
    ]
    src = tmp_path / "refs.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n{not json\n")
    args = ["convert", "refcoco", "--src", str(src), "--images", str(tmp_path / "imgs"), "--format", "paligemma", "--out", str(tmp_path / "o"), "--quiet"]
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert f"{src}:2: missing image: {tmp_path / 'imgs' / 'missing.png'} does not exist" in err and "--skip-invalid" in err
    assert not (tmp_path / "o").exists()  # nothing half-written
    code, stdout, _ = run_cli(args + ["--skip-invalid"], capsys)
    assert code == 0
    assert "wrote 1 rows" in stdout
    for reason in ("missing image: 1", "box outside image: 1", "image size mismatch: 1", "malformed row: 1"):
        assert reason in stdout

    code, _, err = run_cli(["convert", "refcoco", "--src", str(src), "--format", "gpt4", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "unknown family 'gpt4'" in err and "qwen2_vl" in err
    code, _, err = run_cli(["convert", "refcoco", "--src", str(src), "--format", "llama", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "text-only" in err


def test_llamafactory_loads_official_refcoco_for_llava(tmp_path: Path, capsys: pytest.CaptureFixture[str], llama2_tokenizer) -> None:
    folder = write_official(tmp_path)
    out = tmp_path / "out"
    assert run_cli(["convert", "refcoco", "--src", str(folder), "--allow-pickle", "--format", "llava", "--out", str(out), "--quiet"], capsys)[0] == 0
    dataset, tokenizer = load_with_llamafactory(out, "refcoco_llava", "llava", llama2_tokenizer, tmp_path)
    rows = read_rows(out / "refcoco_llava.jsonl")
    assert len(dataset) == len(rows) == 3
    for example, row in zip(dataset, rows):
        assert supervised_text(example, tokenizer).strip() == row["messages"][1]["content"] + tokenizer.eos_token
