"""Overlap of boxes (torchvision) and polygons (shapely).

Boxes are ``(x1, y1, x2, y2)`` in pixels. A degenerate box (x2 <= x1 or y2 <= y1, e.g. a PaliGemma answer
with y2 < y1) covers nothing, so its IoU with anything is 0: torchvision would otherwise compute a negative
"area" and can return a positive IoU for a flipped box.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import torch

# torch/torchvision and shapely are imported inside the functions: scoring GSM8k or a clock set
# should not pay for loading them.
BoxLike = Sequence[float]
PointsLike = Sequence[Sequence[float]]


def _as_tensor(boxes: Sequence[BoxLike]) -> "torch.Tensor":
    import torch

    # float64: pixel coordinates of large images lose IoU precision in float32 near the 0.5 threshold.
    return torch.tensor([[float(v) for v in box[:4]] for box in boxes], dtype=torch.float64).reshape(-1, 4)


def box_iou_matrix(boxes_a: Sequence[BoxLike], boxes_b: Sequence[BoxLike]) -> "torch.Tensor":
    """IoU of every box in ``boxes_a`` with every box in ``boxes_b`` (shape ``len(a) x len(b)``).

    >>> box_iou_matrix([(0, 0, 2, 2)], [(1, 0, 3, 2), (0, 0, 2, 2)]).tolist()
    [[0.3333333333333333, 1.0]]
    """
    import torch
    from torchvision.ops import box_iou

    a, b = _as_tensor(boxes_a), _as_tensor(boxes_b)
    if a.numel() == 0 or b.numel() == 0:
        return torch.zeros((a.shape[0], b.shape[0]), dtype=torch.float64)
    valid_a = (a[:, 2] > a[:, 0]) & (a[:, 3] > a[:, 1])
    valid_b = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    iou = box_iou(a, b)
    return torch.where(valid_a[:, None] & valid_b[None, :], iou, torch.zeros_like(iou))


def box_iou_single(box_a: BoxLike, box_b: BoxLike) -> float:
    """IoU of two boxes.

    >>> box_iou_single((0, 0, 10, 10), (5, 0, 15, 10))
    0.3333333333333333
    """
    return float(box_iou_matrix([box_a], [box_b])[0, 0])


def to_shapely(points: PointsLike) -> Any:
    """A valid shapely polygon for ``points``; self-intersecting input is repaired with ``buffer(0)``
    (the usual fix for bow-tie quadrilaterals) so that areas are never negative or undefined."""
    from shapely.geometry import Polygon as ShapelyPolygon

    polygon = ShapelyPolygon([(float(x), float(y)) for x, y in points]) if len(points) >= 3 else ShapelyPolygon()
    return polygon if polygon.is_valid else polygon.buffer(0)


def polygon_iou(points_a: PointsLike, points_b: PointsLike) -> float:
    """IoU of two polygons given as point lists; 0 when either has no area.

    >>> polygon_iou([(0, 0), (2, 0), (2, 2), (0, 2)], [(1, 0), (3, 0), (3, 2), (1, 2)])
    0.3333333333333333
    """
    a, b = to_shapely(points_a), to_shapely(points_b)
    union = a.union(b).area
    return float(a.intersection(b).area / union) if union > 0 else 0.0


def covered_fraction(points: PointsLike, region: PointsLike) -> float:
    """Share of the polygon ``points`` that lies inside ``region`` (0 when ``points`` has no area).

    >>> covered_fraction([(0, 0), (2, 0), (2, 2), (0, 2)], [(1, 0), (3, 0), (3, 2), (1, 2)])
    0.5
    """
    a, b = to_shapely(points), to_shapely(region)
    return float(a.intersection(b).area / a.area) if a.area > 0 else 0.0
