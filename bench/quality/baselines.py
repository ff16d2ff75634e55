"""Trivial baselines (and one skyline) per task and training-set size, scored by the same rules as the models.

A comparison between losses means something only where the models learned the task, i.e. beat what
one gets without learning it. Per task:

* ``linreg``: ``zero`` (always 0.00), ``mean`` (the training set's mean y), ``problem_mean`` (the
  training mean of the row's line A-D: uses the letter, ignores x) are trivial; ``least_squares`` (an
  ordinary least-squares line per letter, fitted on the same training set) is the skyline: it knows the
  task is linear and only has to estimate 8 numbers.
* ``box``: ``mean_box`` (the training set's mean corners) and ``place_mean`` (the mean training box of
  the same place in the frame: uses half of the description) are trivial. Two skylines: ``description_mean``
  (the mean training box of the same description; the global mean where the description was never seen, so
  it is weak at 128 rows, where most descriptions are seen once or never) and ``compositional`` (knows how
  the boxes were made: centre x from the column, centre y from the row, log width and log height additive
  in object and size, each fitted by least squares on the training set: near the best any learner can do).

Each baseline writes answer *text* in the task's format, which goes through the same `metricsft score`
rules as the models' answers.

>>> texts = baseline_texts("linreg", train_rows, eval_rows)    # doctest: +SKIP
>>> sorted(texts)
['least_squares', 'mean', 'problem_mean', 'zero']
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metricsft.templates import Box

from bench.quality.tasks import box_answer

TRIVIAL = {"linreg": ("zero", "mean", "problem_mean"), "box": ("mean_box", "place_mean")}
SKYLINE = {"linreg": ("least_squares",), "box": ("description_mean", "compositional")}


def _linreg_xy(rows: list[dict[str, Any]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    problems = [r["meta"]["linreg"]["problem"] for r in rows]
    x = np.array([[r["meta"]["linreg"]["x"], 1.0] for r in rows])
    y = np.array([float(r["meta"]["truth"]["answer"]) for r in rows])
    return problems, x, y


def _number(value: float) -> str:
    return f"{round(value, 2) + 0.0:.2f}"


def linreg_baselines(train: list[dict[str, Any]], held_out: list[dict[str, Any]]) -> dict[str, list[str]]:
    train_p, train_x, train_y = _linreg_xy(train)
    eval_p, eval_x, _ = _linreg_xy(held_out)
    by_problem = {p: np.array([q == p for q in train_p]) for p in set(train_p)}
    problem_mean = {p: float(train_y[mask].mean()) for p, mask in by_problem.items()}
    lines = {p: np.linalg.lstsq(train_x[mask], train_y[mask], rcond=None)[0] for p, mask in by_problem.items()}
    return {
        "zero": [_number(0.0)] * len(held_out),
        "mean": [_number(float(train_y.mean()))] * len(held_out),
        "problem_mean": [_number(problem_mean.get(p, float(train_y.mean()))) for p in eval_p],
        "least_squares": [_number(float(x @ lines[p])) if p in lines else _number(float(train_y.mean()))
                          for p, x in zip(eval_p, eval_x)],
    }


def box_baselines(train: list[dict[str, Any]], held_out: list[dict[str, Any]]) -> dict[str, list[str]]:
    boxes = np.array([r["meta"]["truth"]["box"] for r in train], dtype=float)

    def mean_text(mask: np.ndarray) -> str:
        x1, y1, x2, y2 = (round(float(v)) for v in (boxes[mask] if mask.any() else boxes).mean(axis=0))
        return box_answer(Box(x1, y1, x2, y2))

    def by(keys: tuple[str, ...]) -> list[str]:
        """Per held-out row: the mean training box of the rows whose scene agrees on `keys`."""
        scenes = [tuple(r["meta"]["box_scene"][k] for k in keys) for r in train]
        return [mean_text(np.array([s == tuple(row["meta"]["box_scene"][k] for k in keys) for s in scenes]))
                for row in held_out]

    return {"mean_box": by(()), "place_mean": by(("row", "column")),
            "description_mean": by(("object", "size", "row", "column")),
            "compositional": compositional_boxes(train, held_out)}


def _additive_fit(train_keys: list[tuple[str, ...]], y: np.ndarray, eval_keys: list[tuple[str, ...]]) -> np.ndarray:
    """Least squares of ``y`` on one-hot columns of every key part (plus an intercept), predicted for eval_keys.

    A part never seen in training contributes 0 (lstsq's minimum-norm solution leaves its column at 0).
    """
    levels = sorted({(i, part) for keys in train_keys + eval_keys for i, part in enumerate(keys)})
    column = {level: j + 1 for j, level in enumerate(levels)}

    def design(all_keys: list[tuple[str, ...]]) -> np.ndarray:
        x = np.zeros((len(all_keys), len(levels) + 1))
        x[:, 0] = 1.0
        for row, keys in enumerate(all_keys):
            for i, part in enumerate(keys):
                x[row, column[(i, part)]] = 1.0
        return x

    coef = np.linalg.lstsq(design(train_keys), y, rcond=None)[0]
    return design(eval_keys) @ coef


def compositional_boxes(train: list[dict[str, Any]], held_out: list[dict[str, Any]]) -> list[str]:
    """The box skyline that composes the description the way the task's boxes were generated (tasks.box_rows)."""
    boxes = np.array([r["meta"]["truth"]["box"] for r in train], dtype=float)
    scene = lambda row, *keys: tuple(row["meta"]["box_scene"][k] for k in keys)  # noqa: E731
    centre_x = _additive_fit([scene(r, "column") for r in train], (boxes[:, 0] + boxes[:, 2]) / 2,
                             [scene(r, "column") for r in held_out])
    centre_y = _additive_fit([scene(r, "row") for r in train], (boxes[:, 1] + boxes[:, 3]) / 2,
                             [scene(r, "row") for r in held_out])
    shape_train, shape_eval = [scene(r, "object", "size") for r in train], [scene(r, "object", "size") for r in held_out]
    width = np.exp(_additive_fit(shape_train, np.log(np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)), shape_eval))
    height = np.exp(_additive_fit(shape_train, np.log(np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)), shape_eval))
    clip = lambda v: min(max(round(float(v)), 0), 1000)  # noqa: E731
    return [box_answer(Box(clip(cx - w / 2), clip(cy - h / 2), clip(cx + w / 2), clip(cy + h / 2)))
            for cx, cy, w, h in zip(centre_x, centre_y, width, height)]


def baseline_texts(task: str, train: list[dict[str, Any]], held_out: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Answer text per baseline name, one per held-out row."""
    builders = {"linreg": linreg_baselines, "box": box_baselines}
    if task not in builders:
        raise ValueError(f"no baselines for task {task!r}; known: {', '.join(builders)}")
    return builders[task](train, held_out)
