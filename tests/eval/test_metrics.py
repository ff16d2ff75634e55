"""Metrics against independent computations written in the test (pixel grids, hand-worked examples)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from metricsft.eval.metrics.clock import clock_scores, time_gap_minutes
from metricsft.eval.metrics.grounding import grounding_scores
from metricsft.eval.metrics.iou import box_iou_matrix, box_iou_single, covered_fraction, polygon_iou
from metricsft.eval.metrics.textdet import TruthRegion, detection_scores, match_image


def _pixel_iou(a, b, size=40):
    """IoU by counting unit pixels: pixel (x, y) covers [x, x+1) x [y, y+1)."""
    grid_a = np.zeros((size, size), bool)
    grid_b = np.zeros((size, size), bool)
    grid_a[a[1] : a[3], a[0] : a[2]] = True
    grid_b[b[1] : b[3], b[0] : b[2]] = True
    union = (grid_a | grid_b).sum()
    return (grid_a & grid_b).sum() / union if union else 0.0


def _random_box(rng):
    x1, x2 = sorted(rng.sample(range(40), 2))
    y1, y2 = sorted(rng.sample(range(40), 2))
    return (x1, y1, x2, y2)


def test_box_iou_equals_pixel_count():
    rng = random.Random(0)
    for _ in range(300):
        a, b = _random_box(rng), _random_box(rng)
        assert box_iou_single(a, b) == pytest.approx(_pixel_iou(a, b), abs=1e-12)


def test_box_iou_matrix_shape_and_degenerate_boxes():
    matrix = box_iou_matrix([(0, 0, 10, 10), (10, 10, 0, 0)], [(0, 0, 10, 10), (0, 0, 5, 10), (3, 3, 3, 8)])
    assert matrix.shape == (2, 3)
    assert matrix[0].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert matrix[1].tolist() == [0.0, 0.0, 0.0]  # a flipped box covers nothing
    assert box_iou_matrix([], [(0, 0, 1, 1)]).shape == (0, 1)


def _sampled_area(points, xs, ys):
    return MplPath(points).contains_points(np.stack([xs, ys], 1))


def test_polygon_iou_against_point_sampling():
    # a rotated quadrilateral and a triangle: IoU from a dense grid of sample points
    quad = [(2, 1), (9, 3), (8, 8), (1, 6)]
    tri = [(4, 0), (10, 7), (0, 9)]
    step = 0.01
    gx, gy = np.meshgrid(np.arange(0, 10, step) + step / 2, np.arange(0, 10, step) + step / 2)
    xs, ys = gx.ravel(), gy.ravel()
    in_quad, in_tri = _sampled_area(quad, xs, ys), _sampled_area(tri, xs, ys)
    expected = (in_quad & in_tri).sum() / (in_quad | in_tri).sum()
    assert polygon_iou(quad, tri) == pytest.approx(expected, abs=2e-3)
    assert covered_fraction(quad, tri) == pytest.approx((in_quad & in_tri).sum() / in_quad.sum(), abs=2e-3)


def test_polygon_iou_degenerate_and_self_intersecting_do_not_crash():
    assert polygon_iou([(0, 0), (1, 1)], [(0, 0), (1, 0), (1, 1)]) == 0.0
    bowtie = [(0, 0), (2, 2), (2, 0), (0, 2)]
    assert 0.0 <= polygon_iou(bowtie, [(0, 0), (2, 0), (2, 2), (0, 2)]) <= 1.0


def _rect(x1, y1, x2, y2):
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def test_icdar_hand_worked_example_with_dont_care():
    # Image 1: truths A, B and a do-not-care region; four detections.
    #   d1 vs A: IoU 90/100 = 0.9 -> match.      d2 lies fully in the do-not-care region -> ignored.
    #   d3 vs B: IoU 40/100 = 0.4 -> no match.   d4: exactly 50% inside do-not-care -> NOT ignored (> 50% rule).
    # Image 2: one truth, no detection.
    # matched 1, cared truths 2 + 1 = 3, counted detections 3 (d1, d3, d4): P = R = H = 1/3.
    image1 = match_image(
        [TruthRegion(_rect(0, 0, 10, 10)), TruthRegion(_rect(20, 0, 30, 10)), TruthRegion(_rect(40, 0, 60, 10), True)],
        [_rect(1, 0, 10, 10), _rect(45, 0, 55, 10), _rect(20, 0, 24, 10), _rect(35, 0, 45, 10)],
    )
    image2 = match_image([TruthRegion(_rect(0, 0, 10, 10))], [])
    assert (image1.matched, image1.truths, image1.detections, image1.ignored_detections) == (1, 2, 3, 1)
    assert image1.match_ious == pytest.approx((0.9,))
    scores = detection_scores([image1, image2])
    assert scores == pytest.approx({"precision": 1 / 3, "recall": 1 / 3, "hmean": 1 / 3})


def test_icdar_one_to_one_and_dataset_sums_not_image_means():
    # two detections on one truth: only one may match
    one = match_image([TruthRegion(_rect(0, 0, 10, 10))], [_rect(0, 0, 10, 10), _rect(0, 0, 10, 9)])
    assert (one.matched, one.detections) == (1, 2)
    # a detection matching a do-not-care truth is not a match and not a miss
    dc_only = match_image([TruthRegion(_rect(0, 0, 10, 10), True)], [_rect(0, 0, 10, 10)])
    assert (dc_only.matched, dc_only.truths, dc_only.detections) == (0, 0, 0)
    # image A: 1/1 recall; image B: 1/3 recall. Mean of images = 2/3, dataset sum = 2/4.
    a = match_image([TruthRegion(_rect(0, 0, 10, 10))], [_rect(0, 0, 10, 10)])
    b = match_image([TruthRegion(_rect(0, 0, 10, 10)), TruthRegion(_rect(20, 0, 30, 10)), TruthRegion(_rect(40, 0, 50, 10))],
                    [_rect(0, 0, 10, 10)])
    assert detection_scores([a, b])["recall"] == pytest.approx(2 / 4)
    assert detection_scores([])["hmean"] == 0.0


@pytest.mark.parametrize(
    "pred, truth, gap",
    [
        ((11, 55), (12, 5), 10),  # across 12:00
        ((12, 5), (0, 5), 0),  # 12 and 0 are the same dial position
        ((23, 55), (0, 5), 10),  # 24-hour answer on a 12-hour dial
        ((1, 0), (7, 0), 360),  # the farthest two times can be
        ((2, 0), (9, 0), 300),  # 7 hours one way = 5 hours the other way
        ((2, 55), (3, 5), 10),
    ],
)
def test_clock_gap_with_twelve_hour_wrap(pred, truth, gap):
    assert time_gap_minutes(pred, truth) == gap
    assert time_gap_minutes(truth, pred) == gap


def test_clock_and_grounding_aggregates():
    assert clock_scores([0, 10, None, 20]) == {"accuracy": 0.25, "mean_gap_minutes": 10.0, "parse_failure_rate": 0.25}
    scores = grounding_scores([0.5, 0.49, None, 1.0])
    assert scores["acc@0.5"] == 0.5  # IoU exactly 0.5 counts (>=), an unparseable answer is a miss
    assert scores["mean_iou"] == pytest.approx((0.5 + 0.49 + 0 + 1.0) / 4)
    assert scores["parse_failure_rate"] == 0.25
