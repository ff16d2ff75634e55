"""Clock reading: exact time accuracy and the time gap in minutes (12-hour dial)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from metricsft.eval.metrics.clock import clock_scores, time_gap_minutes
from metricsft.eval.parsers.clock import parse_clock_time
from metricsft.eval.report import Plot
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Codec


class ClockTask(Task[tuple[int, int]]):
    name = "clock"
    max_new_tokens = 32
    rules = {
        "accuracy": "parsed time equals the truth on a 12-hour dial (hour 12 == hour 0); accepts H:MM, HH:MM, "
        "H_MM, H-MM inside prose, seconds (H:MM:SS) ignored; when several times appear the last valid one wins; an "
        "unparseable answer is wrong",
        "mean_gap_minutes": "mean over parsed answers of min(d, 720 - d), d = |t_pred - t_true| in minutes",
        "parse_failure_rate": "share of rows with no readable time",
    }

    plots = (Plot("histogram", "time_gap_hist", key="gap_minutes", xlabel="time gap (minutes)", bins=24, range_=(0, 360)),)

    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> tuple[int, int]:
        truth = self.typed_truth(row, rid)
        if truth is not None:
            return (truth.hour, truth.minute)  # type: ignore[union-attr]
        parsed = parse_clock_time(self.label(row, rid), codec)
        if not parsed.ok:
            raise ValueError(f"row {rid!r}: reference has no time: {parsed.reason}")
        return parsed.value  # type: ignore[return-value]

    def parse(self, text: str, gold: tuple[int, int], row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        parsed = parse_clock_time(text, codec)
        return parsed.value, parsed.reason

    def score_one(self, gold: tuple[int, int], value: Any, reason: str | None, row: Mapping[str, Any]) -> dict[str, Any]:
        gap = time_gap_minutes(value, gold) if reason is None else None
        return {"truth": "%d:%02d" % gold, "predicted": None if gap is None else "%d:%02d" % value,
                "gap_minutes": gap, "reason": reason}

    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec, rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        gaps = [entry["gap_minutes"] for entry in entries]
        return Aggregate(clock_scores(gaps), {"parsed": sum(g is not None for g in gaps)})


TASK = ClockTask
