"""Scene-text detection (ICDAR 2015 style): polygons, do-not-care regions, dataset-level P/R/hmean."""

from __future__ import annotations

from metricsft.eval.metrics.textdet import TruthRegion, detection_scores, match_image
from metricsft.eval.parsers.geometry import parse_boxes, parse_polygons
from metricsft.eval.report import Report
from metricsft.eval.tasks.base import NO_PREDICTION, Task, count_reasons, row_id
from metricsft.templates import Codec

DONT_CARE_TEXT = "###"


class TextDetTask(Task):
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

    def _truths(self, row: dict, codec: Codec, rid: str) -> list[TruthRegion]:
        truth = self.truth(row)
        if truth is not None:
            return [TruthRegion([tuple(p) for p in poly["points"]], bool(poly.get("dont_care"))) for poly in truth["polygons"]]
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

    def score_rows(self, rows: list[dict], texts: list[str | None], codec: Codec) -> Report:
        per_row, reasons, images = [], [], []
        read_as_boxes = 0
        for index, (row, text) in enumerate(zip(rows, texts)):
            rid = row_id(row, index)
            truths = self._truths(row, codec, rid)
            rejected: tuple[str, ...] = ()
            if text is None:
                detections, reason = [], NO_PREDICTION
            else:
                detections, reason, as_boxes, rejected = self._detections(text, codec, row)
                read_as_boxes += as_boxes
            match = match_image(truths, detections, malformed=len(rejected))
            images.append(match)
            reasons.append(reason)
            per_row.append({
                "id": rid, "matched": match.matched, "truths": match.truths, "detections": match.detections,
                "ignored_detections": match.ignored_detections, "iou": list(match.match_ious), "reason": reason,
                "rejected_regions": list(rejected),
            })
        metrics = detection_scores(images)
        metrics["parse_failure_rate"] = sum(r is not None for r in reasons) / (len(rows) or 1)
        counts = {
            "matched": sum(m.matched for m in images),
            "truth_polygons": sum(m.truths for m in images),
            "detections": sum(m.detections for m in images),
            "ignored_detections": sum(m.ignored_detections for m in images),
            "answers_read_as_boxes": read_as_boxes,
            "rejected_regions": sum(len(r["rejected_regions"]) for r in per_row),
        }
        return Report(self.name, metrics, counts, count_reasons(reasons), per_row)
