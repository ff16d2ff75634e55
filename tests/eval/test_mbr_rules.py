"""MBR decision rules against hand-computed cases and brute-force references written here."""

from __future__ import annotations

import itertools

import pytest

from metricsft.eval.decoding import rules
from metricsft.eval.decoding.task_rules import TASK_MBR, mbr_rule
from metricsft.eval.parsers.geometry import parse_boxes
from metricsft.eval.tasks import TASKS, get_task
from metricsft.templates import Box, ImageInfo, get_codec


def iou(a, b) -> float:
    """Dense reference IoU of two (x1, y1, x2, y2) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def test_lower_median_and_mean_by_hand():
    assert rules.lower_median([7.0]) == 0
    assert rules.lower_median([9, 1, 5]) == 2                 # sorted 1, 5, 9
    assert rules.lower_median([5.0, 1.0, 4.0, 2.0]) == 3      # sorted 1, 2, 4, 5 -> 2 (lower of 2 and 4)
    assert rules.lower_median([3, 3, 1, 3]) == 0              # ties: the earliest sample with the median value
    assert rules.mean_value([1, 2, 6]) == 3.0
    # the lower median minimises the summed absolute error over the samples (brute force over candidates)
    values = [4, 17, 3, 3, 9, 12, 30, 5]
    best = min(sum(abs(c - v) for v in values) for c in range(0, 40))
    assert sum(abs(values[rules.lower_median(values)] - v) for v in values) == best


def test_majority_vote_and_agreement_by_hand():
    assert rules.majority_vote(["18", "17", "18", "20"]) == 0
    assert rules.majority_vote(["B", "A", "A", "B"]) == 0     # tie: the key seen first
    assert rules.majority_vote(["x", "y", "y"]) == 1
    assert rules.agreement(["18", "17", "18", "20"], 0) == 0.5
    with pytest.raises(ValueError, match="no parsed samples"):
        rules.majority_vote([])


def test_interquartile_range_by_hand():
    # positions (n-1)p: Q1 at 1.75 -> 2 + 0.75 = 2.75, Q3 at 5.25 -> 6 + 0.25 = 6.25
    assert rules.interquartile_range([8, 1, 2, 3, 4, 5, 6, 7]) == pytest.approx(3.5)
    assert rules.interquartile_range([5]) == 0.0
    assert rules.interquartile_range([2, 2, 2]) == 0.0


def test_box_medoid_matches_brute_force_mean_iou():
    boxes = [(0, 0, 10, 10), (1, 1, 11, 11), (0, 0, 9, 10), (50, 50, 60, 60), (2, 0, 12, 10)]
    mean_iou = [sum(iou(a, b) for j, b in enumerate(boxes) if j != i) / (len(boxes) - 1) for i, a in enumerate(boxes)]
    assert rules.box_medoid(boxes) == mean_iou.index(max(mean_iou))
    assert rules.box_medoid(boxes[3:4]) == 0
    pairs = [iou(a, b) for a, b in itertools.combinations(boxes, 2)]
    assert rules.mean_pairwise_iou(boxes) == pytest.approx(sum(pairs) / len(pairs))
    assert rules.mean_pairwise_iou([(0, 0, 1, 1)]) is None


def test_box_coordinate_median_by_hand():
    boxes = [(0, 0, 10, 10), (2, 2, 12, 12), (4, 0, 30, 10), (100, 1, 110, 11)]
    # x1: 0 2 4 100 -> 3; y1: 0 0 1 2 -> 0.5; x2: 10 12 30 110 -> 21; y2: 10 10 11 12 -> 10.5
    assert rules.box_coordinate_median(boxes) == (3.0, 0.5, 21.0, 10.5)


def test_circular_median_wraps_around_twelve_and_is_exact():
    # 11:50, 0:10, 0:20 -> positions 710, 10, 20. Summed gaps: 710 -> 20+30, 10 -> 20+10, 20 -> 30+10.
    assert rules.circular_median([710, 10, 20], 720) == 1     # a linear median would answer 0:20
    assert rules.mean_circular_distance([710, 10, 20], 10, 720) == pytest.approx(10.0)
    positions = [700, 715, 5, 30, 360, 710, 12]
    cost = lambda c: sum(rules.circular_distance(c, p, 720) for p in positions)  # noqa: E731
    best_anywhere = min(cost(c) for c in range(720))          # every minute of the dial
    assert cost(positions[rules.circular_median(positions, 720)]) == best_anywhere


def test_gsm8k_majority_drops_unparseable_samples_and_compares_numbers_exactly():
    decide = mbr_rule("gsm8k")[1]
    samples = ["so 17\n#### 17", "I think\n#### 18.00", "no number at all", "It is 18", "#### 17", "#### 18"]
    decision = decide(samples, {}, get_codec("llama"))
    # parsed: 17, 18, 18 (flexible), 17, 18 -> 18 wins (3 votes), first seen at sample 1
    assert (decision.value, decision.chosen_sample, decision.parsed, decision.text) == ("18", 1, 5, samples[1])
    assert decision.spread["agreement"] == pytest.approx(3 / 5)
    median = mbr_rule("gsm8k", "median")[1](["#### 1", "#### 100", "#### 7", "#### 9"], {}, get_codec("llama"))
    assert median.value == "7" and median.spread["iqr"] == pytest.approx(31.75 - 5.5)  # Q1 1+.75*6, Q3 9+.25*91


def test_a_row_without_any_parsed_sample_is_a_parse_failure_for_the_task():
    row = {"id": "r", "messages": [{"role": "user", "content": "What time is it?"}], "meta": {"truth": {"hour": 3, "minute": 0}}}
    decision = mbr_rule("clock")[1](["no idea", "cannot tell"], row, get_codec("llama"))
    assert (decision.value, decision.parsed, decision.chosen_sample, decision.text) == (None, 0, None, "no idea")
    report = get_task("clock").score([row], {"r": decision.text}, "llama")
    assert report.metrics["parse_failure_rate"] == 1.0


def test_clock_rule_answers_with_the_circular_median_sample():
    samples = ["It is 11:50", "12:10", "the time is 0:20", "unreadable"]
    decision = mbr_rule("clock")[1](samples, {}, get_codec("llama"))
    assert (decision.text, decision.value, decision.parsed) == ("12:10", "12:10", 3)
    assert decision.spread["mean_gap_minutes"] == pytest.approx((20 + 0 + 10) / 3)


def test_refcoco_medoid_and_coordinate_median_round_trip_through_the_codec():
    codec, image = get_codec("qwen2_vl"), ImageInfo(1000, 1000)
    row = {"meta": {"image_size": [1000, 1000]}}
    boxes = [(100, 100, 300, 300), (110, 100, 310, 300), (600, 600, 700, 700), (100, 120, 300, 320)]
    samples = [codec.format_boxes([Box(*b, label="dog")], image)
               for b in boxes] + ["no box here"]
    medoid = mbr_rule("refcoco", "medoid")[1](samples, row, codec)
    mean_iou = [sum(iou(a, b) for b in boxes if b is not a) / 3 for a in boxes]
    assert medoid.chosen_sample == mean_iou.index(max(mean_iou)) and medoid.parsed == 4
    assert medoid.text == samples[medoid.chosen_sample]
    median = mbr_rule("refcoco", "coordinate_median")[1](samples, row, codec)
    # x1: 100 100 110 600 -> 105; y1: 100 100 120 600 -> 110; x2: 300 300 310 700 -> 305; y2 -> 310
    assert median.chosen_sample is None and median.value == [105.0, 110.0, 305.0, 310.0]
    assert parse_boxes(median.text, codec, image).value[0].coords() == (105.0, 110.0, 305.0, 310.0)


def test_rewardbench_rule_follows_the_row_mode():
    codec, decide = get_codec("llama"), mbr_rule("rewardbench")[1]
    pairwise = {"meta": {"truth": {"mode": "pairwise"}}}
    assert decide(["[[B]]", "[[A]]", "[[B]]", "?"], pairwise, codec).value == "B"
    # verdicts are read as the task reads them (RewardBench's official reading: [[A]] anywhere wins, [[C]] = tie)
    assert decide(["[[B]] or rather [[A]]", "[[C]]", "[[C]]"], pairwise, codec).value == "tie"
    assert decide(["[[B]] or rather [[A]]", "[[A]]", "[[B]]"], pairwise, codec).value == "A"
    strict = mbr_rule("rewardbench", judge_rules="strict")[1]  # --judge-rules strict: naming both is unreadable
    decision = strict(["[[B]] or rather [[A]]", "[[A]]", "[[B]]", "[[B]]"], pairwise, codec)
    assert (decision.value, decision.parsed) == ("B", 3)
    rating = {"meta": {"truth": {"mode": "rating"}}}
    decision = decide(["Rating: [[9]]", "[[2]]", "[[7]]", "[[8]]"], rating, codec)  # sorted 2 7 8 9 -> 7
    assert (decision.value, decision.chosen_sample) == (7.0, 2)
    scores = {"meta": {"truth": {"mode": "scores"}}}
    decision = decide(["helpfulness: 3, correctness: 4", "helpfulness: 1, correctness: 4",
                       "Helpfulness: 4, correctness: 0"], scores, codec)
    assert decision.value == {"helpfulness": 3.0, "correctness": 4.0} and decision.chosen_sample is None
    assert decision.text == "helpfulness: 3, correctness: 4"


def test_unsupported_tasks_and_rules_are_refused_with_the_alternatives():
    with pytest.raises(ValueError, match="textdet is not supported.*--decode greedy"):
        mbr_rule("textdet")
    with pytest.raises(ValueError, match="does not apply to refcoco; choose one of: medoid, coordinate_median"):
        mbr_rule("refcoco", "median")
    # every task has a rule or a stated reason
    assert [task for task in TASKS if not TASK_MBR.load(task).rules] == ["textdet"]
