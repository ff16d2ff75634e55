"""RefCOCO-style grounding: Acc@0.5, mean IoU and the parse-failure rate."""

from __future__ import annotations

from typing import Sequence

ACC_THRESHOLD = 0.5


def grounding_scores(ious: Sequence[float | None], threshold: float = ACC_THRESHOLD) -> dict[str, float]:
    """Scores from one IoU per expression (``None`` = the answer could not be parsed).

    An unparseable answer is a miss and counts as IoU 0 in the mean, so a model cannot raise its mean
    IoU by refusing to answer hard cases.

    >>> grounding_scores([0.9, 0.4, None, 0.5])
    {'acc@0.5': 0.5, 'mean_iou': 0.45, 'parse_failure_rate': 0.25}
    """
    n = len(ious)
    if n == 0:
        return {"acc@0.5": 0.0, "mean_iou": 0.0, "parse_failure_rate": 0.0}
    values = [0.0 if iou is None else float(iou) for iou in ious]
    return {
        f"acc@{threshold:g}": sum(v >= threshold for v in values) / n,
        "mean_iou": sum(values) / n,
        "parse_failure_rate": sum(iou is None for iou in ious) / n,
    }
