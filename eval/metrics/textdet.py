"""Scene-text detection scored like the ICDAR 2015 (Robust Reading Challenge, task 4.1) script.

Per image: a detection that lies more than 50% inside any single do-not-care ground-truth region
("###") is ignored; then detections and cared-for ground truths are matched one-to-one, greedily in
index order (ground truth outer loop, detection inner loop, as the official script does), whenever
IoU > 0.5. Precision, recall and hmean are computed from the counts summed over the whole dataset, not
averaged per image. Regions the model wrote but that could not be read (a 2-point quad, a coordinate
out of range) are passed as ``malformed``: they count as detections that match nothing (the official
script would refuse the whole submission instead), so dropping them can never raise precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from metricsft.eval.metrics.iou import PointsLike, covered_fraction, polygon_iou

IOU_THRESHOLD = 0.5
DONT_CARE_COVER_THRESHOLD = 0.5


@dataclass(frozen=True)
class TruthRegion:
    """One ground-truth text polygon; ``dont_care`` marks unreadable text ("###")."""

    points: PointsLike
    dont_care: bool = False


@dataclass(frozen=True)
class ImageMatch:
    """Counts for one image: matched pairs, cared-for truths, detections not ignored, and per-match IoUs."""

    matched: int
    truths: int
    detections: int
    ignored_detections: int
    match_ious: tuple[float, ...]


def match_image(truths: Sequence[TruthRegion], detections: Sequence[PointsLike], malformed: int = 0) -> ImageMatch:
    """Match the detections of one image against its ground truth; ``malformed`` unreadable regions
    are added to the detections as unmatched.

    >>> square = [(0, 0), (10, 0), (10, 10), (0, 10)]
    >>> m = match_image([TruthRegion(square)], [square, [(50, 50), (60, 50), (60, 60)]])
    >>> (m.matched, m.truths, m.detections)
    (1, 1, 2)
    >>> match_image([TruthRegion(square)], [square], malformed=2).detections
    3
    """
    if malformed < 0:
        raise ValueError(f"malformed must be a count >= 0, got {malformed}")
    dont_care = [t for t in truths if t.dont_care]
    ignored = {
        j
        for j, det in enumerate(detections)
        if any(covered_fraction(det, region.points) > DONT_CARE_COVER_THRESHOLD for region in dont_care)
    }
    truth_taken = [False] * len(truths)
    det_taken = [False] * len(detections)
    ious: list[float] = []
    for i, truth in enumerate(truths):
        if truth.dont_care:
            continue
        for j, det in enumerate(detections):
            if truth_taken[i] or det_taken[j] or j in ignored:
                continue
            iou = polygon_iou(truth.points, det)
            if iou > IOU_THRESHOLD:
                truth_taken[i] = det_taken[j] = True
                ious.append(iou)
    return ImageMatch(
        matched=len(ious),
        truths=len(truths) - len(dont_care),
        detections=len(detections) - len(ignored) + malformed,
        ignored_detections=len(ignored),
        match_ious=tuple(ious),
    )


def detection_scores(images: Sequence[ImageMatch]) -> dict[str, float]:
    """Dataset precision / recall / hmean from per-image counts (sums, as the official script does).

    >>> detection_scores([ImageMatch(1, 2, 1, 0, (0.9,)), ImageMatch(1, 1, 3, 0, (0.8,))])
    {'precision': 0.5, 'recall': 0.6666666666666666, 'hmean': 0.5714285714285715}
    """
    matched = sum(m.matched for m in images)
    truths = sum(m.truths for m in images)
    detections = sum(m.detections for m in images)
    recall = matched / truths if truths else 0.0
    precision = matched / detections if detections else 0.0
    hmean = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "hmean": hmean}
