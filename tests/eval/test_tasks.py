"""The six tasks end to end on small converted datasets: requests, parsing, scores computed by hand."""

from __future__ import annotations

import json

import pytest

from metricsft.eval.tasks import TASKS, get_task, join_by_index, read_json_rows
from metricsft.templates import Box, ImageInfo, Polygon, get_codec


def _row(rid, task, family, truth, answer, image_size=None, prompt="question"):
    meta = {"task": task, "family": family, "truth": truth}
    if image_size:
        meta["image_size"] = list(image_size)
    return {
        "id": rid,
        "messages": [{"role": "user", "content": f"<image>{prompt}"}, {"role": "assistant", "content": answer}],
        "images": ["img.jpg"],
        "meta": meta,
    }


def test_registry():
    assert TASKS == ("refcoco", "textdet", "clock", "rewardbench", "gsm8k", "arithmetic")
    with pytest.raises(ValueError, match="choose one of"):
        get_task("mmlu")


def test_request_drops_the_answer_and_checks_the_family():
    task = get_task("refcoco")
    row = _row("r0", "refcoco", "qwen2_vl", {"box": [0, 0, 1, 1]}, "<|box_start|>(0,0),(1,1)<|box_end|>")
    request = task.request(row, "qwen2_vl")
    assert request.id == "r0"
    assert request.messages == [{"role": "user", "content": "<image>question"}]
    assert request.images == ["img.jpg"] and request.max_new_tokens == task.max_new_tokens
    with pytest.raises(ValueError, match="--format qwen2_vl"):
        task.request(row, "llava")
    with pytest.raises(ValueError, match="no 'messages'"):
        task.request({"id": "x", "predict": "1", "label": "1"}, "llama")


def test_refcoco_scores_by_hand():
    # 1000 x 500 image; truth (100, 100, 300, 300) px. Qwen2-VL grid: x * 1000/1000, y * 1000/500.
    family, size, truth = "qwen2_vl", (1000, 500), {"box": [100, 100, 300, 300]}
    rows = [_row(f"r{i}", "refcoco", family, truth, "", size) for i in range(3)]
    predictions = {
        "r0": "<|box_start|>(100,200),(300,600)<|box_end|>",  # exact: IoU 1
        "r1": "The box is (200,200),(400,600).",  # (200,100,300,300)∩: 100x200 / (2*40000 - 20000) = 1/3
        "r2": "I don't know",
    }
    report = get_task("refcoco").score(rows, predictions, family)
    assert report.metrics["acc@0.5"] == pytest.approx(1 / 3)
    assert report.metrics["mean_iou"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert report.metrics["parse_failure_rate"] == pytest.approx(1 / 3)
    assert sum(report.failure_reasons.values()) == 1
    assert [r["iou"] for r in report.per_row][:2] == pytest.approx([1.0, 1 / 3])


def test_refcoco_from_label_text_alone_gives_the_same_iou():
    # generated_predictions rows have no image size: IoU is computed on the stand-in size and must not change
    codec, image = get_codec("llava"), ImageInfo(640, 480)
    truth, pred = Box(64, 48, 320, 240), Box(100, 48, 320, 300)
    with_meta = _row("a", "refcoco", "llava", {"box": list(truth.coords())}, "", (640, 480))
    bare = {"id": "a", "prompt": "q", "label": codec.format_boxes([truth], image), "predict": codec.format_boxes([pred], image)}
    task = get_task("refcoco")
    full = task.score([with_meta], {"a": bare["predict"]}, "llava").metrics["mean_iou"]
    label_only = task.score([bare], {}, "llava").metrics["mean_iou"]
    inter = (320 - 100) * (240 - 48)
    expected = inter / ((320 - 64) * (240 - 48) + (320 - 100) * (300 - 48) - inter)
    assert full == pytest.approx(expected, abs=0.01)  # LLaVA writes 3 decimals of a 640-px square
    assert label_only == pytest.approx(full, abs=1e-9)


def _rect(x1, y1, x2, y2):
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]


def test_textdet_scores_by_hand():
    family = "llama"
    truth = {"polygons": [
        {"points": _rect(0, 0, 100, 50), "text": "STOP", "dont_care": False},
        {"points": _rect(200, 0, 300, 50), "text": "EXIT", "dont_care": False},
        {"points": _rect(0, 100, 100, 150), "text": "###", "dont_care": True},
    ]}
    rows = [_row("t0", "textdet", family, truth, "", (400, 200)), _row("t1", "textdet", family, truth, "", (400, 200))]
    codec, image = get_codec(family), ImageInfo(400, 200)
    polys = [Polygon(((0, 0), (100, 0), (100, 50), (0, 50))),  # matches STOP
             Polygon(((10, 100), (90, 100), (90, 150), (10, 150))),  # inside do-not-care: ignored
             Polygon(((300, 150), (350, 150), (350, 200), (300, 200)))]  # false positive
    predictions = {"t0": codec.format_polygons(polys, image), "t1": "no text here"}
    report = get_task("textdet").score(rows, predictions, family)
    # matched 1; cared truths 2 + 2; detections 2 (STOP, false positive) + 0
    assert report.counts["matched"] == 1 and report.counts["truth_polygons"] == 4 and report.counts["detections"] == 2
    assert report.metrics["precision"] == pytest.approx(1 / 2)
    assert report.metrics["recall"] == pytest.approx(1 / 4)
    assert report.metrics["hmean"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert report.metrics["parse_failure_rate"] == 0.5


def test_clock_scores_by_hand():
    rows = [_row(f"c{i}", "clock", "qwen2_vl", truth, "") for i, truth in
            enumerate([{"hour": 2, "minute": 55}, {"hour": 3, "minute": 0}, {"hour": 12, "minute": 5}])]
    predictions = {"c0": "2_55", "c1": "It is five to three", "c2": "The time is 11:55."}
    report = get_task("clock").score(rows, predictions, "qwen2_vl")
    assert report.metrics == pytest.approx({"accuracy": 1 / 3, "mean_gap_minutes": (0 + 10) / 2, "parse_failure_rate": 1 / 3})
    assert [r["gap_minutes"] for r in report.per_row] == [0, None, 10]


def _pair(rid, subset, better, swap=False):
    return _row(rid, "rewardbench", "llama", {"pair_id": rid, "subset": subset, "mode": "pairwise", "swap": swap,
                                              "better": better}, "")


def test_rewardbench_pairwise_undoes_swap_and_weights_sections():
    rows = [_pair("p0", "alpacaeval-easy", "A"), _pair("p1", "alpacaeval-easy", "B", swap=True),
            _pair("p2", "hep-go", "B", swap=True), _pair("p3", "math-prm", "A"), _pair("p4", "donotanswer", "A")]
    predictions = {"p0": "A is better. [[A]]", "p1": "hmm", "p2": "[[B]]", "p3": "[[C]]", "p4": "[[B]]"}
    task = get_task("rewardbench")
    task.judge_rules = "strict"  # tie = wrong; the official rules (tie = 0.5) are tested in test_metrics_rewardbench.py
    report = task.score(rows, predictions, "llama")
    m = report.metrics
    assert m["subset/alpacaeval-easy"] == pytest.approx((1 + 0.5) / 2)  # unparseable scores 0.5
    assert m["subset/hep-go"] == 1.0 and m["subset/math-prm"] == 0.0  # a tie is wrong
    assert m["Chat"] == pytest.approx(0.75)
    assert m["Reasoning"] == pytest.approx((0 * 984 + 1 * 164) / (984 + 164))
    assert m["Safety"] == 0.0
    assert m["Overall"] == pytest.approx((0.75 + 164 / 1148 + 0.0) / 3)
    assert m["accuracy"] == pytest.approx((1 + 0.5 + 1 + 0 + 0) / 5)
    assert m["parse_failure_rate"] == pytest.approx(1 / 5)


def test_rewardbench_ratings_compare_chosen_with_rejected():
    def rating_row(rid, pair, which, subset="mt-bench-easy"):
        truth = {"pair_id": pair, "subset": subset, "mode": "rating", "swap": False, "better": "A", "response": which}
        return _row(rid, "rewardbench", "llama", truth, "")

    rows = [rating_row("a1", "p1", "chosen"), rating_row("a2", "p1", "rejected"),
            rating_row("b1", "p2", "chosen"), rating_row("b2", "p2", "rejected"),
            rating_row("c1", "p3", "chosen"), rating_row("c2", "p3", "rejected")]
    predictions = {"a1": "Rating: [[8]]", "a2": "5", "b1": "6", "b2": "6", "c1": "7", "c2": "no rating"}
    task = get_task("rewardbench")
    task.judge_rules = "strict"  # equal ratings = wrong (official: 0.5, see test_metrics_rewardbench.py)
    report = task.score(rows, predictions, "llama")
    assert report.metrics["subset/mt-bench-easy"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert report.counts["pairs"] == 3
    assert {r["pred_label"] for r in report.per_row if "pred_label" in r} == {"chosen wins", "tie", "no answer"}


def test_gsm8k_three_rules():
    rows = [_row(f"g{i}", "gsm8k", "llama", {"answer": "1234"}, "") for i in range(4)]
    predictions = {"g0": "so 1,234 in total\n#### 1,234", "g1": "The answer is $1,234.", "g2": "#### 1234.00",
                   "g3": "#### 12 then 1234"}
    report = get_task("gsm8k").score(rows, predictions, "llama")
    # strict: g0 only. flexible (last number): g0, g1, g3. numeric (strict, else flexible): g0, g1, g2.
    assert report.metrics["strict_match"] == pytest.approx(1 / 4)
    assert report.metrics["flexible_extract"] == pytest.approx(3 / 4)
    assert report.metrics["numeric"] == pytest.approx(3 / 4)
    assert report.metrics["parse_failure_rate"] == pytest.approx(1 / 4)


def test_arithmetic_fractions():
    rows = [_row(f"a{i}", "arithmetic", "llama", {"answer": "-3/4"}, "") for i in range(4)]
    predictions = {"a0": "-6/8", "a1": "Working: 1/4 - 1 = -3/4.", "a2": "0.75", "a3": "-0.75"}
    report = get_task("arithmetic").score(rows, predictions, "llama")
    assert [r["ok"] for r in report.per_row] == [True, True, False, True]
    assert [r["strict_ok"] for r in report.per_row] == [True, False, False, True]


def test_missing_predictions_are_counted_not_invented():
    rows = [_row("g0", "gsm8k", "llama", {"answer": "3"}, ""), _row("g1", "gsm8k", "llama", {"answer": "4"}, "")]
    report = get_task("gsm8k").score(rows, {"g0": "#### 3"}, "llama")
    assert report.counts["missing_predictions"] == 1
    assert report.metrics["strict_match"] == 0.5
    assert report.failure_reasons == {"no prediction for this row": 1}


def test_read_rows_jsonl_and_json_list_and_errors(tmp_path):
    rows = [{"prompt": "q", "predict": "#### 1", "label": "#### 1"}, {"id": "x", "predict": "2", "label": "2"}]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    listed = tmp_path / "p.json"
    listed.write_text(json.dumps(rows))
    for path in (jsonl, listed):
        assert [r["id"] for r in get_task("gsm8k").read_rows(path)] == ["row-0", "x"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"predict": "1"}\n{"predict": \n')
    with pytest.raises(ValueError, match=r"broken.jsonl:2"):
        read_json_rows(broken)
    with pytest.raises(ValueError, match="3 prediction rows but 2 converted rows"):
        join_by_index([{}, {}, {}], [{}, {}], where="p vs d")


def test_report_outputs(tmp_path):
    rows = [_row("c0", "clock", "llama", {"hour": 1, "minute": 0}, ""), _row("c1", "clock", "llama", {"hour": 2, "minute": 0}, "")]
    report = get_task("clock").score(rows, {"c0": "1:10", "c1": "??"}, "llama")
    data = json.loads(json.dumps(report.to_json()))
    assert data["metrics"]["mean_gap_minutes"] == 10 and data["rules"]["accuracy"]
    table = report.to_markdown()
    assert "| accuracy | 0.0000 |" in table and "| mean_gap_minutes | 10.0000 |" in table
    assert "| no time written H:MM, H_MM or H-MM in the answer | 1 |" in table
    files = report.plot(tmp_path)
    assert [f.name for f in files] == ["clock_time_gap_hist.png"]
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reward_scores_per_attribute(tmp_path):
    def scored(rid, scores):
        return _row(rid, "rewardbench", "llama", {"mode": "scores", "scores": scores, "range": [0, 4]}, "")

    rows = [scored("s0", {"helpfulness": 3, "correctness": 4}), scored("s1", {"helpfulness": 1, "correctness": 0}),
            scored("s2", {"helpfulness": 2, "correctness": 2})]
    predictions = {"s0": "helpfulness: 3, correctness: 2", "s1": "Helpfulness: 2", "s2": "no idea"}
    report = get_task("rewardbench").score(rows, predictions, "llama")
    # exact: s0 helpfulness only -> 1 of 6; errors: helpfulness |3-3|, |2-1|; correctness |2-4|
    assert report.metrics["exact_accuracy"] == pytest.approx(1 / 6)
    assert report.metrics["mae/helpfulness"] == pytest.approx(0.5)
    assert report.metrics["mae/correctness"] == pytest.approx(2.0)
    assert report.metrics["mae"] == pytest.approx(3 / 3)
    assert report.metrics["parse_failure_rate"] == pytest.approx(2 / 3)
    assert [f.name for f in report.plot(tmp_path)] == ["rewardbench_confusion.png"]


def test_textdet_accepts_boxes_as_rectangles():
    # Qwen2.5-VL spots text with bbox_2d boxes; a box equal to the truth rectangle is a match
    family = "qwen2_5_vl"
    truth = {"polygons": [{"points": _rect(28, 28, 280, 112), "text": "STOP", "dont_care": False}]}
    rows = [_row("t0", "textdet", family, truth, "", (560, 560))]
    meta = rows[0]["meta"]
    meta["min_pixels"], meta["max_pixels"] = 3136, 560 * 560  # smart_resize keeps 560 x 560 (multiple of 28)
    answer = '```json\n[{"bbox_2d": [28, 28, 280, 112], "text_content": "STOP"}]\n```'
    report = get_task("textdet").score(rows, {"t0": answer}, family)
    assert report.metrics["hmean"] == 1.0 and report.counts["answers_read_as_boxes"] == 1
