"""The benchmark's tasks: nested training sets of several sizes and one fixed held-out set per task.

Every row is a LLaMA-Factory sharegpt row as `metricsft data convert` writes it (``messages`` + ``id``
+ ``meta.truth``), written with the family codec, so the same files train (`metricsft train`) and are
scored (`metricsft score`). Training sets are nested: the first 256 rows of the 1,024-row set are the
256-row set, so a larger size only *adds* data.

* ``linreg`` -- low-data noisy linear regression with numeric outputs, in the spirit of the DIST2Loss
  paper's meta linear regression: four lines ``A``..``D``, each y = w*x + b with its own fixed weights,
  x in {0.0, 0.1, ..., 0.9}, Gaussian noise (sd 0.05) on y, y written with two decimals. Prompt
  ``"C 0.7"`` -> answer ``"1.42"``. 40 distinct prompts: with 128 training rows each is seen ~3 times
  with different noise, so the model has to average noisy numeric targets; the noise floor is MAE ~0.04.
* ``box`` -- boxes of objects described in text, written the way Qwen2-VL writes a box on its 0-1000 grid:
  ``"large cat top left"`` -> ``(46,90),(352,308)`` (the `qwen2_vl` codec, see `box_answer`). The object
  fixes the aspect ratio, the size word the area, the place the centre (81 descriptions); every row adds
  noise (centre sd 15 grid units, width and height x exp(N(0, 0.08))), so, as in linreg, the model must
  learn averages of noisy numeric targets. Held-out rows are fresh draws of the same descriptions. Scored
  by `metricsft score refcoco` (Acc@0.5, mean IoU); the image is a stand-in 1000x1000 frame.

>>> rows = linreg_rows(random.Random(0), 2, "train")
>>> rows[0]["messages"][0]["content"].split()[0] in "ABCD"
True
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from metricsft.data.common import make_row
from metricsft.data.writer import write_dataset
from metricsft.templates import Box, ImageInfo, get_codec
from metricsft.templates.rows import AnswerTruth, BoxTruth

TASKS = ("linreg", "box")
# Which `metricsft score` task and family read each task's answers.
SCORER = {"linreg": ("arithmetic", "llama"), "box": ("refcoco", "qwen2_vl")}
TRAIN_SEED, EVAL_SEED, WEIGHTS_SEED = 1234, 98765, 7
LINREG_PROBLEMS = "ABCD"
LINREG_NOISE = 0.05
BOX_IMAGE = ImageInfo(1000, 1000)


@dataclass(frozen=True)
class TaskData:
    name: str
    dataset_dir: Path  # holds dataset_info.json for LLaMA-Factory (train sets + the eval set)
    train_names: dict[int, str]  # training-set size -> dataset name
    eval_name: str
    eval_file: Path
    n_eval: int


def linreg_weights() -> dict[str, tuple[float, float]]:
    """(w, b) per line; fixed for the whole benchmark (slopes of either sign, |w| in [0.5, 1.5])."""
    rng = random.Random(WEIGHTS_SEED)
    return {p: (round(rng.choice((-1, 1)) * rng.uniform(0.5, 1.5), 2), round(rng.uniform(0.5, 1.5), 2))
            for p in LINREG_PROBLEMS}


def linreg_rows(rng: random.Random, n: int, split: str) -> list[dict[str, Any]]:
    codec, weights = get_codec("llama"), linreg_weights()
    rows = []
    for index in range(n):
        problem = rng.choice(LINREG_PROBLEMS)
        x = rng.randrange(10) / 10
        w, b = weights[problem]
        y = round(w * x + b + rng.gauss(0.0, LINREG_NOISE), 2) + 0.0  # +0.0: no "-0.00"
        answer = f"{y:.2f}"
        rows.append(make_row(
            row_id=f"linreg/{split}/{index}", codec=codec, prompt=f"{problem} {x:.1f}", answer=answer,
            task="arithmetic", split=split, truth=AnswerTruth(answer), meta={"linreg": {"problem": problem, "x": x}},
        ))
    return rows


def box_answer(box: Box) -> str:
    """Qwen2-VL's box text without its two special tokens: ``(x1,y1),(x2,y2)`` on the 0-1000 grid.

    ``<|box_start|>`` / ``<|box_end|>`` are single tokens in Qwen2-VL's vocabulary but 13 and 11 bytes
    for the byte tokenizer used here (`model.py`); they would triple the answer's length with two
    constant strings. `metricsft score`'s box parser reads the bare corners.
    """
    text = get_codec("qwen2_vl").format_boxes([box], BOX_IMAGE)
    return text.removeprefix("<|box_start|>").removesuffix("<|box_end|>")


# The box task's scenes: an object (its aspect ratio), a size word (its area) and a place on a 3 x 3 grid of the
# frame (its centre) fix the canonical box; every row adds noise, so the model must learn 81 noisy averages
# (compositionally: at 128 rows most descriptions are seen once or not at all).
BOX_OBJECTS = {"cat": 1.4, "ball": 1.0, "person": 0.5}  # width / height
BOX_SIZES = {"small": 100, "medium": 180, "large": 260}  # sqrt(area) in grid units
BOX_ROWS = {"top": 200, "middle": 500, "bottom": 800}  # centre y
BOX_COLUMNS = {"left": 200, "centre": 500, "right": 800}  # centre x
BOX_CENTRE_NOISE, BOX_SIZE_NOISE = 15.0, 0.08  # sd of the centre (grid units) and of log(width), log(height)


def box_scene(rng: random.Random) -> dict[str, str]:
    return {"object": rng.choice(list(BOX_OBJECTS)), "size": rng.choice(list(BOX_SIZES)),
            "row": rng.choice(list(BOX_ROWS)), "column": rng.choice(list(BOX_COLUMNS))}


def box_prompt(scene: dict[str, str]) -> str:
    return f"{scene['size']} {scene['object']} {scene['row']} {scene['column']}"


def box_rows(rng: random.Random, n: int, split: str) -> list[dict[str, Any]]:
    codec = get_codec("qwen2_vl")
    rows = []
    for index in range(n):
        scene = box_scene(rng)
        aspect, side = BOX_OBJECTS[scene["object"]], BOX_SIZES[scene["size"]]
        cx = BOX_COLUMNS[scene["column"]] + rng.gauss(0.0, BOX_CENTRE_NOISE)
        cy = BOX_ROWS[scene["row"]] + rng.gauss(0.0, BOX_CENTRE_NOISE)
        w = side * math.sqrt(aspect) * math.exp(rng.gauss(0.0, BOX_SIZE_NOISE))
        h = side / math.sqrt(aspect) * math.exp(rng.gauss(0.0, BOX_SIZE_NOISE))
        clip = lambda v: min(max(round(v), 0), 1000)  # noqa: E731  (corners on the integer grid, inside the frame)
        box = Box(clip(cx - w / 2), clip(cy - h / 2), clip(cx + w / 2), clip(cy + h / 2))
        rows.append(make_row(
            row_id=f"box/{split}/{index}", codec=codec, prompt=box_prompt(scene), answer=box_answer(box),
            task="refcoco", split=split, truth=BoxTruth((box.x1, box.y1, box.x2, box.y2), "box"),
            meta={"image_size": [BOX_IMAGE.width, BOX_IMAGE.height], "box_scene": scene},
        ))
    return rows


ROW_BUILDERS: dict[str, Callable[[random.Random, int, str], list[dict[str, Any]]]] = {
    "linreg": linreg_rows, "box": box_rows,
}


def build_task(name: str, root: Path, sizes: tuple[int, ...], n_eval: int) -> TaskData:
    """Write the nested training sets and the eval set of task `name` under `root/name`."""
    if name not in ROW_BUILDERS:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(ROW_BUILDERS)}")
    folder = root / name
    train = ROW_BUILDERS[name](random.Random(TRAIN_SEED), max(sizes), "train")
    held_out = ROW_BUILDERS[name](random.Random(EVAL_SEED), n_eval, "eval")
    names = {}
    for size in sizes:
        names[size] = f"{name}_train_{size}"
        write_dataset(folder, names[size], train[:size])
    eval_path, _ = write_dataset(folder, f"{name}_eval", held_out)
    return TaskData(name, folder, names, f"{name}_eval", eval_path, len(held_out))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
