"""Trivial baselines (and one skyline) per task and training-set size, scored by the same rules as the models.

A comparison between losses means something only where the models learned the task, i.e. beat what
one gets without learning it. Per task:

* ``linreg``: ``zero`` (always 0.00), ``mean`` (the training set's mean y), ``problem_mean`` (the
  training mean of the row's line A-D: uses the letter, ignores x) are trivial; ``least_squares`` (an
  ordinary least-squares line per letter, fitted on the same training set) is the skyline: it knows the
  task is linear and only has to estimate 8 numbers.
* ``box``: ``mean_box`` (the training set's mean corners) and ``place_mean`` (the mean training box of
  the same place in the frame: uses half of the description) are trivial; ``description_mean`` (the mean
  training box of the same description; the global mean where the description was never seen) is the
  skyline: it is what the model has to learn.

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
SKYLINE = {"linreg": ("least_squares",), "box": ("description_mean",)}


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
            "description_mean": by(("object", "size", "row", "column"))}


def baseline_texts(task: str, train: list[dict[str, Any]], held_out: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Answer text per baseline name, one per held-out row."""
    builders = {"linreg": linreg_baselines, "box": box_baselines}
    if task not in builders:
        raise ValueError(f"no baselines for task {task!r}; known: {', '.join(builders)}")
    return builders[task](train, held_out)
