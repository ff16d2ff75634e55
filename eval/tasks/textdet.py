"""Scene-text detection (ICDAR 2015 style): polygons, do-not-care regions, dataset-level P/R/hmean."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from metricsft.eval.metrics.textdet import TruthRegion, detection_scores, match_image
from metricsft.eval.parsers.geometry import parse_boxes, parse_polygons
from metricsft.eval.report import IOU_HISTOGRAM
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Codec
from metricsft.templates.rows import DONT_CARE_TEXT


class TextDetTask(Task[list[TruthRegion]]):
    name = "textdet"
    max_new_tokens = 1024
    rules = {
        "precision": "matched / detections not ignored, summed over the dataset; a detection > 50% inside one "
        "do-not-care ('###') region is ignored; a malformed region (fewer than 3 points, a coordinate out of range) "
        "is dropped, counted in rejected_regions and as a detection that matches nothing",
        "recall": "matched / cared-for ground-truth polygons, summed over the dataset",
        "hmean": "2PR / (P + R); matching is one-to-one, greedy in index order, at polygon IoU > 0.5 "
        "(ICDAR 2015 script)",
        "parse_failure_rate": "share of images whose answer held no readable polygon or box (scored as no "
        "detections); boxes are read as rectangles; an answer with some valid regions is not a failure",
    }

    plots = (IOU_HISTOGRAM,)

    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> list[TruthRegion]:
        truth = self.typed_truth(row, rid)
        if truth is not None:
            return [TruthRegion(list(region.points), region.dont_care) for region in truth.polygons]  # type: ignore[union-attr]
        parsed = parse_polygons(self.label(row, rid), codec, self.image_info(row))
        if not parsed.ok or parsed.rejected:  # a dropped truth region would silently raise recall
            why = parsed.reason or parsed.rejected[0]
            raise ValueError(f"row {rid!r}: the reference answer is not {codec.family} polygons: {why}")
        return [TruthRegion(p.points, p.label == DONT_CARE_TEXT) for p in parsed.value]  # type: ignore[union-attr]

    @staticmethod
    def _detections(text: str, codec: Codec, row: dict) -> tuple[list, str | None, bool, tuple[str, ...]]:
        """Polygons from the answer; boxes are accepted as rectangles (Qwen2.5-VL spots text with
        ``bbox_2d``), so a box-writing model is scored rather than failed.
        Returns (points, reason, as_boxes, why each malformed region was dropped)."""
        image = Task.image_info(row)
        polygons = parse_polygons(text, codec, image)
        if polygons.ok:
            return [p.points for p in polygons.value], None, False, polygons.rejected  # type: ignore[union-attr]
        boxes = parse_boxes(text, codec, image)
        if boxes.ok:
            rectangles = [((b.x1, b.y1), (b.x2, b.y1), (b.x2, b.y2), (b.x1, b.y2)) for b in boxes.value]  # type: ignore[union-attr]
            return rectangles, None, True, boxes.rejected
        return [], polygons.reason, False, polygons.rejected

    def parse(self, text: str, gold: list[TruthRegion], row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        detections, reason, as_boxes, rejected = self._detections(text, codec, row)
        return (detections, as_boxes, rejected), reason

    def score_one(self, gold: list[TruthRegion], value: Any, reason: str | None, row: Mapping[str, Any]) -> dict[str, Any]:
        detections, as_boxes, rejected = value if value is not None else ([], False, ())
        match = match_image(gold, detections, malformed=len(rejected))
        return {
            "matched": match.matched, "truths": match.truths, "detections": match.detections,
            "ignored_detections": match.ignored_detections, "iou": list(match.match_ious), "reason": reason,
            "rejected_regions": list(rejected), "_match": match, "_as_boxes": as_boxes,
        }

    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec, rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        images = [entry["_match"] for entry in entries]
        read_as_boxes = sum(entry["_as_boxes"] for entry in entries)
        metrics = detection_scores(images)
        metrics["parse_failure_rate"] = failure_rate
        counts = {
            "matched": sum(m.matched for m in images),
            "truth_polygons": sum(m.truths for m in images),
            "detections": sum(m.detections for m in images),
            "ignored_detections": sum(m.ignored_detections for m in images),
            "answers_read_as_boxes": read_as_boxes,
            "rejected_regions": sum(len(entry["rejected_regions"]) for entry in entries),
        }
        return Aggregate(metrics, counts)


TASK = TextDetTask
