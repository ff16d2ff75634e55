"""Clock reading (the TIME image-folder dataset), the whole task: truth, converter, scorer, MBR rule, prompt.

One row per image, the time from its folder.

Images live in class folders named by the time they show, ``2-55`` or ``2_55`` (hour 1..12
or 0..11, minute 00..59), optionally under split folders (``train/2-55/x.jpg``; pick one
with ``--split``). The answer is ``H:MM`` in the family's wording.

Scored as exact time accuracy and the time gap in minutes (12-hour dial).

    metricsft data convert clock --src TIME/ --split test --format paligemma --out data
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from metricsft.data.common import IMAGE_SUFFIXES, ConversionError, Converter, ImageOptions, Invalid, TrainingExample, image_info, make_row, require_image_family
from metricsft.eval.decoding import rules
from metricsft.eval.decoding.task_rules import Decision, MbrRules, pick
from metricsft.eval.metrics.clock import DIAL_MINUTES, clock_scores, minutes_on_dial, time_gap_minutes
from metricsft.eval.parsers.clock import parse_clock_time
from metricsft.eval.report import Plot
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Codec
from metricsft.templates.rows import Truth, image_meta, truth_field


# -- truth and prompt -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ClockTruth(Truth):
    """Clock reading: the time shown, 12-hour dial (hour 0..12, minute 0..59)."""

    hour: int
    minute: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "ClockTruth":
        return cls(int(truth_field(data, "hour", (int, float, str), where)), int(truth_field(data, "minute", (int, float, str), where)))


truth_from_json = ClockTruth.from_json

#: default prompt per key (``codec.prompt(key, ...)``); a family may reword one in templates/prompts.yaml
PROMPTS: dict[str, str] = {
    "clock": "What time does the clock in the image show? Answer as H:MM.",
}


# -- converter ------------------------------------------------------------------------------------

CLASS_FOLDER = re.compile(r"^(\d{1,2})[-_:](\d{1,2})$")


def folder_time(name: str) -> tuple[int, int] | None:
    """(hour, minute) from a class folder name, or None when the name is not a time.

    >>> folder_time("2-55"), folder_time("02_05"), folder_time("cats")
    ((2, 55), (2, 5), None)
    """
    match = CLASS_FOLDER.match(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def convert(options: ImageOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    require_image_family(codec, "clock")
    src = Path(options.src)
    if not src.is_dir():
        raise ConversionError(f"{src}: expected the dataset folder (class folders named like 2-55 or 2_55)")
    if options.split:
        if not (src / options.split).is_dir():
            raise ConversionError(f"{src}: no split folder {options.split!r} (found: {', '.join(sorted(p.name for p in src.iterdir() if p.is_dir()))})")
        src = src / options.split
    split = options.split or src.name
    images = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ConversionError(f"{src}: no images found")
    for path in images:
        relative = path.relative_to(src)
        time = folder_time(path.parent.name)
        if time is None:
            yield Invalid(str(path), "malformed row", f"its folder {path.parent.name!r} is not a time like 2-55 or 2_55")
            continue
        hour, minute = time
        try:
            answer = codec.format_time(hour, minute)
        except ValueError as err:
            yield Invalid(str(path), "bad time", f"folder {path.parent.name!r}: {err}")
            continue
        try:
            info = image_info(path, options, codec)
        except OSError as err:
            yield Invalid(str(path), "unreadable image", str(err))
            continue
        yield make_row(
            row_id=f"clock/{split}/{relative.with_suffix('').as_posix()}", codec=codec, prompt=codec.prompt("clock"),
            answer=answer, task="clock", split=split, images=[path], meta=image_meta(info),
            truth=ClockTruth(hour, minute),
        )


CONVERTER = Converter(ImageOptions, convert, TrainingExample("analog clock reading (TIME)", "--src TIME/ --split train", "the time H:MM on a 12-hour dial"))


# -- scorer ---------------------------------------------------------------------------------------

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


# -- MBR decoding ---------------------------------------------------------------------------------

def _circular_median(samples: Sequence[str], row: dict, codec: Codec) -> Decision:
    def parse(text: str) -> tuple[int, int] | None:
        parsed = parse_clock_time(text, codec)
        return parsed.value if parsed.ok else None

    def choose(times: list[tuple[int, int]]) -> int:
        return rules.circular_median([minutes_on_dial(*t) for t in times], DIAL_MINUTES)

    def spread(times: list[tuple[int, int]], chosen: int) -> dict[str, Any]:
        positions = [minutes_on_dial(*t) for t in times]
        return {"mean_gap_minutes": rules.mean_circular_distance(positions, positions[chosen], DIAL_MINUTES)}

    return pick(samples, parse, choose, lambda t: "%d:%02d" % t, spread)


# the time gap on the dial is scored, so the circular median (least summed gap) is the rule
MBR = MbrRules(
    {"circular_median": _circular_median},
    {"circular_median": "circular median on the 12-hour dial (the sample with the least summed time gap to the others)"},
)
