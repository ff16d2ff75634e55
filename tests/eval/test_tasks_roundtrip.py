"""Converter -> scorer round trip for every task x family: the row contract seen from both sides.

Each task's raw input (official layout, tiny) is converted by the real ``metricsft data convert``; the
task then scores the rows' own reference answers (must be perfect) and a deliberately wrong answer
(must not be). Every row's ``meta.truth`` must read back through the typed contract unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from metricsft.data.cli import data_main
from metricsft.data.convert import CONVERTERS
from metricsft.eval.tasks import TASKS, get_task
from metricsft.templates import FAMILIES, get_codec
from metricsft.tasks import TASK_MODULES
from metricsft.templates.rows import image_from_meta, read_truth

IMAGE_TASKS = tuple(task for task in TASKS if CONVERTERS.load(task).needs_images)


def _image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "white").save(path)


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def raw_input(task: str, root: Path) -> tuple[list[str], str, str]:
    """(extra CLI args incl. --src, the metric that a perfect answer maxes out, a wrong answer)."""
    if task == "refcoco":
        _image(root / "img" / "a.jpg", (320, 200))
        _image(root / "img" / "b.jpg", (120, 240))
        src = _jsonl(root / "refs.jsonl", [
            {"id": 1, "phrase": "left dog", "bbox": [20, 30, 100, 90], "image": "a.jpg", "width": 320, "height": 200},
            {"id": 2, "phrase": "tall man", "bbox_xyxy": [10, 40, 90, 230], "image": "b.jpg"},
        ])
        return ["--src", str(src), "--images", str(root / "img")], "acc@0.5", "no box here"
    if task == "textdet":
        gt, images = root / "gt", root / "images"
        gt.mkdir()
        _image(images / "img_1.jpg", (200, 100))
        (gt / "gt_img_1.txt").write_text("10,10,90,10,90,40,10,40,HELLO\n110,50,190,50,190,90,110,90,###\n20,60,80,60,80,90,20,90,ok\n")
        return ["--src", str(gt), "--images", str(images)], "hmean", "nothing to see"
    if task == "clock":
        for name in ("2-55/a.jpg", "11_05/b.png", "12-00/c.jpg"):
            _image(root / "time" / name, (48, 32))
        return ["--src", str(root / "time")], "accuracy", "I cannot read clocks"
    if task == "rewardbench":
        src = _jsonl(root / "pairs.jsonl", [
            {"id": f"p{i}", "prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}", "subset": s}
            for i, s in enumerate(["alpacaeval-easy"] * 4 + ["hep-go"] * 4)
        ])
        return ["--src", str(src), "--mode", "pairwise"], "accuracy", "no verdict"
    if task == "gsm8k":
        src = _jsonl(root / "test.jsonl", [
            {"question": "Tom has 3 apples and buys 1,001 more. How many?", "answer": "3 + 1001 = <<3+1001=1004>>1004\n#### 1,004"},
            {"question": "Half of 9?", "answer": "9 / 2 = 4.5\n#### 4.5"},
        ])
        return ["--src", str(src)], "strict_match", "the answer is unclear"
    if task == "arithmetic":
        return ["--src", "generate:arithmetic__mixed", "--limit", "4"], "exact_match", "no idea"
    raise AssertionError(f"no raw input for task {task!r}: add one here")


CASES = [(task, family) for task in TASKS for family in FAMILIES if get_codec(family).has_images or task not in IMAGE_TASKS]


def test_every_task_and_family_is_covered() -> None:
    # every registered task (TASK_MODULES is the one list) with every family that can show its input
    assert TASKS == tuple(TASK_MODULES) and IMAGE_TASKS == ("refcoco", "textdet", "clock")
    assert len(CASES) == len(TASKS) * len(FAMILIES) - len(IMAGE_TASKS) * sum(not get_codec(f).has_images for f in FAMILIES)


@pytest.mark.parametrize(("task", "family"), CASES)
def test_converted_rows_score_their_own_answers(task: str, family: str, tmp_path: Path) -> None:
    args, metric, wrong = raw_input(task, tmp_path)
    out = tmp_path / "out"
    assert data_main(["convert", task, "--format", family, "--out", str(out), "--quiet", *args]) == 0
    (path,) = out.glob("*.jsonl")
    scorer = get_task(task)
    rows = scorer.read_rows(path)
    assert rows
    for row in rows:
        meta = row["meta"]
        assert (meta["task"], meta["family"]) == (task, family)
        assert read_truth(task, meta["truth"], row["id"]).to_json() == meta["truth"]
        image = image_from_meta(meta, row["id"])
        assert (image is not None) == (task in IMAGE_TASKS)
        if image is not None:
            assert (image.min_pixels is not None) == get_codec(family).uses_resize_bounds
    own = scorer.score(rows, {row["id"]: row["messages"][-1]["content"] for row in rows}, family)
    assert own.metrics[metric] == 1.0 and own.metrics["parse_failure_rate"] == 0.0, own.to_markdown()
    bad = scorer.score(rows, {row["id"]: wrong for row in rows}, family)
    assert bad.metrics[metric] < 1.0 and bad.metrics["parse_failure_rate"] == 1.0, bad.to_markdown()
