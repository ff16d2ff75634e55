"""RefCOCO / RefCOCO+ / RefCOCOg referring-expression grounding: one box per expression."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from metricsft.eval.metrics.grounding import grounding_scores
from metricsft.eval.metrics.iou import box_iou_single
from metricsft.eval.parsers.geometry import parse_boxes
from metricsft.eval.report import IOU_HISTOGRAM
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Codec

BoxCoords = tuple[float, float, float, float]


class RefCOCOTask(Task[BoxCoords]):
    name = "refcoco"
    max_new_tokens = 64
    rules = {
        "acc@0.5": "share of expressions whose FIRST valid predicted box has IoU >= 0.5 with the truth box (pixels of "
        "the original image); malformed boxes (x2 < x1, out of range) are skipped and counted in rejected_boxes; a "
        "zero-area box scores IoU 0; an unparseable answer is a miss",
        "mean_iou": "mean IoU over all expressions, unparseable answers counted as 0",
        "parse_failure_rate": "share of rows where no box could be read (family codec, then lenient fallbacks)",
    }

    plots = (IOU_HISTOGRAM,)

    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> BoxCoords:
        truth = self.typed_truth(row, rid)
        if truth is not None:
            return truth.box  # type: ignore[union-attr]
        label = parse_boxes(self.label(row, rid), codec, self.image_info(row))
        if not label.ok or label.rejected:
            why = label.reason or label.rejected[0]
            raise ValueError(f"row {rid!r}: the reference answer is not a {codec.family} box: {why}")
        return label.value[0].coords()  # type: ignore[index]

    def parse(self, text: str, gold: BoxCoords, row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        parsed = parse_boxes(text, codec, self.image_info(row))
        return parsed, parsed.reason

    def score_one(self, gold: BoxCoords, value: Any, reason: str | None, row: Mapping[str, Any]) -> dict[str, Any]:
        iou = box_iou_single(value.value[0].coords(), gold) if reason is None else None
        return {"iou": iou, "reason": reason, "rejected_boxes": list(value.rejected) if value is not None else [],
                "_several_boxes": reason is None and len(value.value) > 1}

    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec, rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        ious = [entry["iou"] for entry in entries]
        counts = {"parsed": sum(i is not None for i in ious),
                  "answers_with_several_boxes": sum(entry["_several_boxes"] for entry in entries),
                  "rejected_boxes": sum(len(entry["rejected_boxes"]) for entry in entries)}
        sizeless = sum(not (row.get("meta") or {}).get("image_size") for row in rows)
        return Aggregate(grounding_scores(ious), counts, rules=self._rules_without_image_size(sizeless, codec) if sizeless else {})

    def _rules_without_image_size(self, sizeless: int, codec: Codec) -> dict[str, str]:
        """Rows without ``meta.image_size`` are not compared in original pixels: say so in the rule."""
        where = (f"{sizeless} row(s) carry no image size, so their boxes are compared in the family's written "
                 f"coordinates ({codec.space.description}) of a stand-in image; IoU is the same as in original "
                 "pixels because every family maps pixels to written numbers linearly per axis")
        return {"acc@0.5": self.rules["acc@0.5"].replace("(pixels of the original image)", f"({where})")}


TASK = RefCOCOTask
