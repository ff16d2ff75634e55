"""Scene-text converter: ICDAR2015, MSRA-TD500, CTW1500 and Total-Text files in their official forms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image
from qwen_vl_utils import smart_resize
from shapely.geometry import Polygon as ShapelyPolygon

from tests.data.lf_loading import load_with_llamafactory, run_cli, supervised_text


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def convert(tmp_path: Path, capsys, src: Path, family: str, *extra: str) -> tuple[int, str, str]:
    return run_cli(["convert", "textdet", "--src", str(src), "--format", family, "--out", str(tmp_path / "out"), "--quiet", *extra], capsys)


def write_icdar2015(root: Path) -> tuple[Path, Path]:
    gt, images = root / "ch4_test_localization_transcription_gt", root / "ch4_test_images"
    gt.mkdir()
    images.mkdir()
    Image.new("RGB", (200, 100)).save(images / "img_1.jpg")
    # official files: UTF-8 with a BOM, CRLF line ends, transcriptions may contain commas
    text = "10,10,50,10,50,30,10,30,HELLO\r\n60,10,100,10,100,30,60,30,###\r\n5,40,40,40,40,60,5,60,A,B\r\n"
    (gt / "gt_img_1.txt").write_bytes(b"\xef\xbb\xbf" + text.encode())
    return gt, images


def test_icdar2015_to_qwen2_vl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, images = write_icdar2015(tmp_path)
    code, _, err = convert(tmp_path, capsys, gt, "qwen2_vl", "--images", str(images))
    assert code == 0, err
    (row,) = rows_of(tmp_path / "out" / f"textdet_qwen2_vl.jsonl")
    assert row["id"] == "textdet/ch4_test_localization_transcription_gt/img_1"
    truth = row["meta"]["truth"]["polygons"]
    assert truth[0] == {"points": [[10, 10], [50, 10], [50, 30], [10, 30]], "text": "HELLO", "dont_care": False}
    assert truth[1]["dont_care"] is True and truth[2]["text"] == "A,B"
    # 0-1000 grid of a 200x100 image: x*5, y*10; the do-not-care region is not in the answer
    assert row["messages"][1]["content"] == (
        "<|object_ref_start|>HELLO<|object_ref_end|><|quad_start|>(50,100),(250,100),(250,300),(50,300)<|quad_end|>"
        "<|object_ref_start|>A,B<|object_ref_end|><|quad_start|>(25,400),(200,400),(200,600),(25,600)<|quad_end|>"
    )
    assert row["meta"]["layout"] == "icdar2015"


def test_td500_rotated_rectangles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "MSRA-TD500" / "test"
    src.mkdir(parents=True)
    Image.new("RGB", (100, 80)).save(src / "IMG_0059.JPG")
    (src / "IMG_0059.gt").write_text(f"0 0 20 20 40 10 {math.pi / 2}\n1 1 5 5 10 10 0\n")
    code, _, err = convert(tmp_path, capsys, src, "llava")
    assert code == 0, err
    (row,) = rows_of(tmp_path / "out" / "textdet_llava.jsonl")
    first, second = row["meta"]["truth"]["polygons"]
    # 40x10 box at (20, 20): centre (40, 25); turned a quarter turn it spans x 35..45, y 5..45
    assert [c for p in first["points"] for c in p] == pytest.approx([45, 5, 45, 45, 35, 45, 35, 5])
    assert ShapelyPolygon(first["points"]).area == pytest.approx(400)
    assert second == {"points": [[5, 5], [15, 5], [15, 15], [5, 15]], "text": "", "dont_care": True}
    assert row["meta"]["layout"] == "td500"


def test_ctw1500_both_forms_and_totaltext(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctw = tmp_path / "ctw1500"
    ctw.mkdir()
    Image.new("RGB", (300, 200)).save(ctw / "0001.jpg")
    Image.new("RGB", (300, 200)).save(ctw / "1001.jpg")
    offsets = [(i * 10, 0) for i in range(7)] + [(60 - i * 10, 20) for i in range(7)]
    train_line = ",".join(str(v) for v in [100, 50, 160, 70] + [c for p in offsets for c in p])
    (ctw / "0001.txt").write_text(train_line + "\n")
    (ctw / "1001.txt").write_text("10,10,60,10,60,40,10,40,####Curvy\n70,70,90,70,90,90,####\n")  # 3 points, empty text
    code, _, err = convert(tmp_path, capsys, ctw, "paligemma")
    assert code == 0, err
    first, second = rows_of(tmp_path / "out" / "textdet_paligemma.jsonl")
    assert first["meta"]["truth"]["polygons"][0]["points"] == [[100 + dx, 50 + dy] for dx, dy in offsets]
    assert second["meta"]["truth"]["polygons"] == [
        {"points": [[10, 10], [60, 10], [60, 40], [10, 40]], "text": "Curvy", "dont_care": False},
        {"points": [[70, 70], [90, 70], [90, 90]], "text": "", "dont_care": False},
    ]
    # PaliGemma: y then x, round(v * 1023) of x/300 and y/200
    loc = lambda v, size: f"<loc{round(v / size * 1023):04d}>"
    expected = "".join(loc(y, 200) + loc(x, 300) for x, y in [(10, 10), (60, 10), (60, 40), (10, 40)]) + " Curvy"
    assert second["messages"][1]["content"].startswith(expected + " ; ")

    total = tmp_path / "totaltext"
    total.mkdir()
    Image.new("RGB", (300, 200)).save(total / "img11.jpg")
    (total / "gt_img11.txt").write_text(
        "x: [[115 203 194 115]], y: [[22 46 126 104]], ornt: [u'c'], transcriptions: [u'NAUGHTY']\n"
        "x: [[5 25 25]], y: [[5 5 25]], ornt: [u'#'], transcriptions: [u'#']\n"
    )
    code, _, err = convert(tmp_path, capsys, total, "qwen2_vl", "--name", "tt")
    assert code == 0, err
    (row,) = rows_of(tmp_path / "out" / "tt.jsonl")
    assert row["meta"]["layout"] == "totaltext"
    assert row["meta"]["truth"]["polygons"] == [
        {"points": [[115, 22], [203, 46], [194, 126], [115, 104]], "text": "NAUGHTY", "dont_care": False},
        {"points": [[5, 5], [25, 5], [25, 25]], "text": "#", "dont_care": True},
    ]


def test_textdet_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, images = write_icdar2015(tmp_path)
    (gt / "gt_img_2.txt").write_text("1,2,3,4,5,6,7,HELLO\n")
    (gt / "gt_img_3.txt").write_text("10,10,250,10,250,30,10,30,WIDE\n")
    Image.new("RGB", (200, 100)).save(images / "img_2.jpg")
    Image.new("RGB", (200, 100)).save(images / "img_3.png")
    (gt / "gt_img_4.txt").write_text("1,1,5,1,5,5,1,5,###\n")
    Image.new("RGB", (200, 100)).save(images / "img_4.jpg")
    (gt / "gt_img_5.txt").write_text("1,1,5,1,5,5,1,5,X\n")
    code, _, err = convert(tmp_path, capsys, gt, "qwen2_vl", "--images", str(images))
    assert code == 2 and f"{gt / 'gt_img_2.txt'}:1: malformed row: expected 8 numbers and a transcription" in err
    code, stdout, _ = convert(tmp_path, capsys, gt, "qwen2_vl", "--images", str(images), "--skip-invalid")
    assert code == 0
    assert "wrote 1 rows" in stdout
    for reason in ("malformed row: 1", "box outside image: 1", "no legible text: 1", "missing image: 1"):
        assert reason in stdout
    code, _, err = convert(tmp_path, capsys, gt, "qwen2_vl", "--layout", "coco")
    assert code == 2 and "--layout must be auto or one of icdar2015, td500, ctw1500, totaltext" in err


def test_llamafactory_loads_textdet_for_qwen2_5_vl(tmp_path: Path, capsys: pytest.CaptureFixture[str], qwen2_tokenizer) -> None:
    gt, images = write_icdar2015(tmp_path)
    # large enough that LLaMA-Factory's default image_max_pixels (768*768) would shrink it first
    Image.new("RGB", (1000, 700)).save(images / "img_1.jpg")
    assert convert(tmp_path, capsys, gt, "qwen2_5_vl", "--images", str(images))[0] == 0
    dataset, tokenizer = load_with_llamafactory(tmp_path / "out", "textdet_qwen2_5_vl", "qwen2_5_vl", qwen2_tokenizer, tmp_path,
                                                image_max_pixels=12845056)  # as data_configs/tasks/qwen2_5_vl_* set it
    (row,) = rows_of(tmp_path / "out" / "textdet_qwen2_5_vl.jsonl")
    assert len(dataset) == 1
    assert supervised_text(dataset[0], tokenizer).strip() == row["messages"][1]["content"] + "<|im_end|>"
    # LLaMA-Factory fed the model the smart-resized image our coordinates refer to:
    # one <|image_pad|> per 28x28 patch of smart_resize(700, 1000) (a 14-px patch, merged 2x2)
    h_bar, w_bar = smart_resize(700, 1000, 28, row["meta"]["min_pixels"], row["meta"]["max_pixels"])
    pads = dataset[0]["input_ids"].count(tokenizer.convert_tokens_to_ids("<|image_pad|>"))
    assert pads == (h_bar // 28) * (w_bar // 28)
    first = json.loads(row["messages"][1]["content"].removeprefix("```json\n").removesuffix("\n```"))[0]
    assert first["polygon"][1] == [round(50 * w_bar / 1000), round(10 * h_bar / 700)]
