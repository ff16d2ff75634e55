"""Minimum-Bayes-risk decision rules over N sampled answers, as pure functions (no parsing, no I/O).

Each rule returns the answer that minimises the expected loss of the task's metric under the
empirical distribution of the samples (RAIL, Lukasik et al. 2024, for numbers):

* absolute error            -> a median            (`lower_median`)
* squared error             -> the mean            (`mean_value`)
* exact match               -> the mode            (`majority_vote`, i.e. self-consistency)
* IoU of boxes              -> the medoid: the sample with the highest mean IoU to the others
                               (`box_medoid`), or the coordinate-wise median (`box_coordinate_median`)
* minutes on a 12-hour dial -> the circular median (`circular_median`)

Rules that can answer with one of the samples do so (they return its index), so the chosen answer is
text the model really wrote and is scored by the task's own parser unchanged.

    >>> lower_median([3, 1, 2, 10]), majority_vote(["7", "8", "7"]), circular_median([710, 5, 15], 720)
    (2, 0, 1)
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Hashable, Sequence


def _check_nonempty(values: Sequence[object], what: str) -> None:
    if not values:
        raise ValueError(f"{what}: no parsed samples to decide from (the caller must treat the row as a parse failure)")


def lower_median(values: Sequence[float]) -> int:
    """Index of the lower median of ``values`` (ties: the earliest sample).

    For an even count every point between the two middle values has the same expected absolute
    error; the lower one is an actual sample, so its text can be scored as the model wrote it.

    >>> lower_median([5.0, 1.0, 4.0, 2.0])   # sorted 1, 2, 4, 5: the lower median is 2 (index 3)
    3
    """
    _check_nonempty(values, "lower_median")
    order = sorted(range(len(values)), key=lambda i: (values[i], i))
    return order[(len(values) - 1) // 2]


def mean_value(values: Sequence[float]) -> float:
    """The mean: Bayes-optimal for squared error (it is usually not one of the samples).

    >>> mean_value([1, 2, 6])
    3.0
    """
    _check_nonempty(values, "mean_value")
    return float(sum(values)) / len(values)


def majority_vote(keys: Sequence[Hashable]) -> int:
    """Index of the first sample holding the most frequent key (ties: the key seen first).

    >>> majority_vote(["B", "A", "A", "B"])   # A and B tie at 2; B was seen first
    0
    """
    _check_nonempty(keys, "majority_vote")
    counts = Counter(keys)
    best = max(counts.values())
    return next(i for i, key in enumerate(keys) if counts[key] == best)


def agreement(keys: Sequence[Hashable], chosen: int) -> float:
    """Share of the samples equal to the chosen one (1.0 = unanimous).

    >>> agreement(["7", "7", "8", "7"], 0)
    0.75
    """
    _check_nonempty(keys, "agreement")
    return sum(key == keys[chosen] for key in keys) / len(keys)


def interquartile_range(values: Sequence[float]) -> float:
    """Q3 - Q1 with linear interpolation between order statistics (numpy's default); 0 for one value.

    >>> interquartile_range([1, 2, 3, 4, 5])   # Q1 = 2, Q3 = 4
    2.0
    """
    _check_nonempty(values, "interquartile_range")
    if len(values) == 1:
        return 0.0
    q1, _, q3 = statistics.quantiles([float(v) for v in values], n=4, method="inclusive")
    return q3 - q1


def box_medoid(boxes: Sequence[Sequence[float]]) -> int:
    """Index of the box with the highest mean IoU to the OTHER boxes (ties: the earliest).

    Maximising expected IoU over the samples' own boxes; one box is its own medoid.

    >>> box_medoid([(0, 0, 10, 10), (100, 100, 110, 110), (1, 0, 11, 10)])
    0
    """
    _check_nonempty(boxes, "box_medoid")
    if len(boxes) == 1:
        return 0
    from metricsft.eval.metrics.iou import box_iou_matrix

    iou = box_iou_matrix(boxes, boxes)
    iou.fill_diagonal_(0.0)
    return int(iou.sum(dim=1).argmax())  # torch's argmax returns the first maximum


def mean_pairwise_iou(boxes: Sequence[Sequence[float]]) -> float | None:
    """Mean IoU over all pairs of boxes: 1.0 = the samples agree; None for fewer than two boxes.

    >>> mean_pairwise_iou([(0, 0, 10, 10), (0, 0, 10, 10), (0, 0, 10, 5)])   # pairs: 1, 0.5, 0.5
    0.6666666666666666
    """
    if len(boxes) < 2:
        return None
    from metricsft.eval.metrics.iou import box_iou_matrix

    iou = box_iou_matrix(boxes, boxes)
    n = len(boxes)
    return float((iou.sum() - iou.diagonal().sum()) / (n * (n - 1)))


def box_coordinate_median(boxes: Sequence[Sequence[float]]) -> tuple[float, float, float, float]:
    """The median of each coordinate on its own (the mean of the middle two for an even count).

    Robust to one wild sample, but in general not one of the samples.

    >>> box_coordinate_median([(0, 0, 10, 10), (2, 2, 12, 12), (4, 0, 30, 10)])
    (2.0, 0.0, 12.0, 10.0)
    """
    _check_nonempty(boxes, "box_coordinate_median")
    x1, y1, x2, y2 = (float(statistics.median(float(box[k]) for box in boxes)) for k in range(4))
    return (x1, y1, x2, y2)


def circular_distance(a: float, b: float, period: float) -> float:
    """Shortest distance between two positions on a circle of circumference ``period``.

    >>> circular_distance(710, 5, 720)
    15
    """
    d = abs(a - b) % period
    return min(d, period - d)


def circular_median(positions: Sequence[float], period: float) -> int:
    """Index of the sample minimising the summed circular distance to all samples (ties: earliest).

    On a circle the summed distance is piecewise linear with its convex corners at the samples, so a
    minimiser is always one of them: searching the samples is exact, not an approximation.

    >>> circular_median([700, 10, 20, 30], 720)   # 11:40, 0:10, 0:20, 0:30 -> 0:10 (index 1)
    1
    """
    _check_nonempty(positions, "circular_median")
    costs = [sum(circular_distance(p, q, period) for q in positions) for p in positions]
    return costs.index(min(costs))


def mean_circular_distance(positions: Sequence[float], center: float, period: float) -> float:
    """Mean circular distance of the samples to ``center`` (the spread around the chosen answer).

    >>> mean_circular_distance([710, 10, 20], 10, 720)
    10.0
    """
    _check_nonempty(positions, "mean_circular_distance")
    return sum(circular_distance(p, center, period) for p in positions) / len(positions)
