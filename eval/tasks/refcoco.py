"""RefCOCO / RefCOCO+ / RefCOCOg referring-expression grounding: one box per expression."""

from __future__ import annotations

from metricsft.eval.metrics.grounding import grounding_scores
from metricsft.eval.metrics.iou import box_iou_single
from metricsft.eval.parsers.geometry import parse_boxes
from metricsft.eval.report import Report
from metricsft.eval.tasks.base import NO_PREDICTION, Task, count_reasons, row_id
from metricsft.templates import Codec


class RefCOCOTask(Task):
    name = "refcoco"
    max_new_tokens = 64
    rules = {
        "acc@0.5": "share of expressions whose FIRST valid predicted box has IoU >= 0.5 with the truth box (pixels of "
        "the original image); malformed boxes (x2 < x1, out of range) are skipped and counted in rejected_boxes; a "
        "zero-area box scores IoU 0; an unparseable answer is a miss",
        "mean_iou": "mean IoU over all expressions, unparseable answers counted as 0",
        "parse_failure_rate": "share of rows where no box could be read (family codec, then lenient fallbacks)",
    }

    def score_rows(self, rows: list[dict], texts: list[str | None], codec: Codec) -> Report:
        per_row, reasons, ious = [], [], []
        several = 0
        for index, (row, text) in enumerate(zip(rows, texts)):
            rid = row_id(row, index)
            image = self.image_info(row)
            truth = self.truth(row)
            if truth is not None:
                true_box = tuple(float(v) for v in truth["box"])
            else:
                label = parse_boxes(self.label(row, rid), codec, image)
                if not label.ok or label.rejected:
                    why = label.reason or label.rejected[0]
                    raise ValueError(f"row {rid!r}: the reference answer is not a {codec.family} box: {why}")
                true_box = label.value[0].coords()  # type: ignore[index]
            parsed = parse_boxes(text, codec, image) if text is not None else None
            reason = NO_PREDICTION if parsed is None else parsed.reason
            rejected = list(parsed.rejected) if parsed is not None else []
            iou = None
            if parsed is not None and parsed.ok:
                several += len(parsed.value) > 1  # type: ignore[arg-type]
                iou = box_iou_single(parsed.value[0].coords(), true_box)  # type: ignore[index]
            reasons.append(reason)
            ious.append(iou)
            per_row.append({"id": rid, "iou": iou, "reason": reason, "rejected_boxes": rejected})
        counts = {"parsed": sum(i is not None for i in ious), "answers_with_several_boxes": several,
                  "rejected_boxes": sum(len(r["rejected_boxes"]) for r in per_row)}
        sizeless = sum(not (row.get("meta") or {}).get("image_size") for row in rows)
        return Report(self.name, grounding_scores(ious), counts, count_reasons(reasons), per_row,
                      self._rules_without_image_size(sizeless, codec) if sizeless else {})

    def _rules_without_image_size(self, sizeless: int, codec: Codec) -> dict[str, str]:
        """Rows without ``meta.image_size`` are not compared in original pixels: say so in the rule."""
        where = (f"{sizeless} row(s) carry no image size, so their boxes are compared in the family's written "
                 f"coordinates ({codec.space.description}) of a stand-in image; IoU is the same as in original "
                 "pixels because every family maps pixels to written numbers linearly per axis")  # type: ignore[attr-defined]
        return {"acc@0.5": self.rules["acc@0.5"].replace("(pixels of the original image)", f"({where})")}
