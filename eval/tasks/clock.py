"""Clock reading: exact time accuracy and the time gap in minutes (12-hour dial)."""

from __future__ import annotations

from metricsft.eval.metrics.clock import clock_scores, time_gap_minutes
from metricsft.eval.parsers.clock import parse_clock_time
from metricsft.eval.report import Report
from metricsft.eval.tasks.base import NO_PREDICTION, Task, count_reasons, row_id
from metricsft.templates import Codec


class ClockTask(Task):
    name = "clock"
    max_new_tokens = 32
    rules = {
        "accuracy": "parsed time equals the truth on a 12-hour dial (hour 12 == hour 0); accepts H:MM, HH:MM, "
        "H_MM, H-MM inside prose, seconds (H:MM:SS) ignored; when several times appear the last valid one wins; an "
        "unparseable answer is wrong",
        "mean_gap_minutes": "mean over parsed answers of min(d, 720 - d), d = |t_pred - t_true| in minutes",
        "parse_failure_rate": "share of rows with no readable time",
    }

    def score_rows(self, rows: list[dict], texts: list[str | None], codec: Codec) -> Report:
        per_row, reasons, gaps = [], [], []
        for index, (row, text) in enumerate(zip(rows, texts)):
            rid = row_id(row, index)
            truth = self.truth(row)
            if truth is not None:
                true_time = (int(truth["hour"]), int(truth["minute"]))
            else:
                parsed_label = parse_clock_time(self.label(row, rid), codec)
                if not parsed_label.ok:
                    raise ValueError(f"row {rid!r}: reference has no time: {parsed_label.reason}")
                true_time = parsed_label.value  # type: ignore[assignment]
            parsed = parse_clock_time(text, codec) if text is not None else None
            reason = NO_PREDICTION if parsed is None else parsed.reason
            gap = time_gap_minutes(parsed.value, true_time) if parsed is not None and parsed.ok else None
            reasons.append(reason)
            gaps.append(gap)
            per_row.append({
                "id": rid, "truth": "%d:%02d" % true_time,
                "predicted": None if gap is None else "%d:%02d" % parsed.value,  # type: ignore[union-attr]
                "gap_minutes": gap, "reason": reason,
            })
        return Report(self.name, clock_scores(gaps), {"parsed": sum(g is not None for g in gaps)},
                      count_reasons(reasons), per_row)
