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
* ``box`` -- the box task: a box given by its centre and size on Qwen2-VL's 0-1000 grid (prompt
  ``"435,612 204x300"``) must be written as its corners the way Qwen2-VL writes a box, ``(333,462),(537,762)``
  (the `qwen2_vl` codec, see `box_answer`); scored by `metricsft score refcoco` (Acc@0.5, mean IoU).
  The image is a stand-in 1000x1000 frame, so grid units are pixels.

>>> rows = linreg_rows(random.Random(0), 2, "train")
>>> rows[0]["messages"][0]["content"].split()[0] in "ABCD"
True
"""

from __future__ import annotations

import json
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


def box_rows(rng: random.Random, n: int, split: str) -> list[dict[str, Any]]:
    codec = get_codec("qwen2_vl")
    rows = []
    for index in range(n):
        # Even sizes keep the corners on the integer grid: the answer is exact, only the model errs.
        w, h = 2 * rng.randint(30, 250), 2 * rng.randint(30, 250)
        cx, cy = rng.randint(w // 2, 1000 - w // 2), rng.randint(h // 2, 1000 - h // 2)
        box = Box(cx - w // 2, cy - h // 2, cx + w // 2, cy + h // 2)
        answer = box_answer(box)
        rows.append(make_row(
            row_id=f"box/{split}/{index}", codec=codec, prompt=f"{cx},{cy} {w}x{h}", answer=answer,
            task="refcoco", split=split, truth=BoxTruth((box.x1, box.y1, box.x2, box.y2), "box"),
            meta={"image_size": [BOX_IMAGE.width, BOX_IMAGE.height]},
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
    if name == "box":  # never score a training prompt (linreg has only 40 prompts: new noise, same inputs)
        seen = {row["messages"][0]["content"] for row in train}
        held_out = [row for row in held_out if row["messages"][0]["content"] not in seen]
    names = {}
    for size in sizes:
        names[size] = f"{name}_train_{size}"
        write_dataset(folder, names[size], train[:size])
    eval_path, _ = write_dataset(folder, f"{name}_eval", held_out)
    return TaskData(name, folder, names, f"{name}_eval", eval_path, len(held_out))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
