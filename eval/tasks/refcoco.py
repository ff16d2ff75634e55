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
        "acc@0.5": "share of expressions whose FIRST predicted box has IoU >= 0.5 with the truth box (pixels of the "
        "original image); an unparseable answer is a miss",
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
                if not label.ok:
                    raise ValueError(f"row {rid!r}: the reference answer is not a {codec.family} box: {label.reason}")
                true_box = label.value[0].coords()  # type: ignore[index]
            parsed = parse_boxes(text, codec, image) if text is not None else None
            reason = NO_PREDICTION if parsed is None else parsed.reason
            iou = None
            if parsed is not None and parsed.ok:
                several += len(parsed.value) > 1  # type: ignore[arg-type]
                iou = box_iou_single(parsed.value[0].coords(), true_box)  # type: ignore[index]
            reasons.append(reason)
            ious.append(iou)
            per_row.append({"id": rid, "iou": iou, "reason": reason})
        counts = {"parsed": sum(i is not None for i in ious), "answers_with_several_boxes": several}
        return Report(self.name, grounding_scores(ious), counts, count_reasons(reasons), per_row)
