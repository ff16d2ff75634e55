"""Metrics as pure functions (torchmetrics style): no parsing, no I/O.

    >>> from metricsft.eval.metrics import box_iou_single, time_gap_minutes
    >>> box_iou_single((0, 0, 10, 10), (0, 0, 10, 5)), time_gap_minutes((11, 55), (12, 5))
    (0.5, 10)
"""

from metricsft.eval.metrics.clock import clock_scores, minutes_on_dial, time_gap_minutes
from metricsft.eval.metrics.grounding import grounding_scores
from metricsft.eval.metrics.iou import box_iou_matrix, box_iou_single, covered_fraction, polygon_iou
from metricsft.eval.metrics.rewardbench import (
    EXAMPLE_COUNTS,
    JUDGE_RULES,
    SECTIONS,
    TIE_SCORE,
    pair_outcome,
    section_scores,
    verdict_outcome,
)
from metricsft.eval.metrics.textdet import ImageMatch, TruthRegion, detection_scores, match_image

__all__ = [
    "EXAMPLE_COUNTS",
    "SECTIONS",
    "TIE_SCORE",
    "ImageMatch",
    "JUDGE_RULES",
    "TruthRegion",
    "box_iou_matrix",
    "box_iou_single",
    "clock_scores",
    "covered_fraction",
    "detection_scores",
    "grounding_scores",
    "match_image",
    "minutes_on_dial",
    "pair_outcome",
    "polygon_iou",
    "section_scores",
    "time_gap_minutes",
    "verdict_outcome",
]
