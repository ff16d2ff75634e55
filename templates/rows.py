"""The row contract: what a converted row's ``meta`` holds, written by converters and read by tasks.

``metricsft data convert`` writes ``meta = {"task", "family", "split", <image metadata>, "truth": {...}}``;
``metricsft eval`` / ``score`` read the same keys back. Both sides go through the dataclasses here, so
a key renamed on one side fails loudly on the other (``RowError`` names the row and the key).
Nothing here needs torch.

>>> truth = ClockTruth(hour=2, minute=55)
>>> truth.to_json()
{'hour': 2, 'minute': 55}
>>> read_truth("clock", {"hour": 2, "minute": 55}, "clock/test/0")
ClockTruth(hour=2, minute=55)
>>> read_truth("clock", {"hour": 2}, "clock/test/0")
Traceback (most recent call last):
...
metricsft.templates.rows.RowError: row 'clock/test/0': meta.truth.minute is missing; convert the data again with metricsft data convert
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Union

from .base import ImageInfo

#: transcription that marks a do-not-care text region (ICDAR 2015 and the formats that follow it)
DONT_CARE_TEXT = "###"


class RowError(ValueError):
    """A converted row that breaks the contract; the message names the row and the key."""


def _get(data: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise RowError(f"row {where!r}: meta.truth must be a JSON object, got {type(data).__name__}")
    if key not in data:
        raise RowError(f"row {where!r}: meta.truth.{key} is missing; convert the data again with metricsft data convert")
    value = data[key]
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise RowError(f"row {where!r}: meta.truth.{key} must not be a boolean, got {value!r}")
    if not isinstance(value, kinds):
        raise RowError(f"row {where!r}: meta.truth.{key} has the wrong type ({type(value).__name__}): {str(value)[:60]}")
    return value


def _json(value: Any) -> Any:
    """Tuples become lists, as JSON writes them (so ``to_json`` equals what a converted file holds)."""
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


class _Truth:
    def to_json(self) -> dict[str, Any]:
        """The ``meta.truth`` object as written to the JSONL file."""
        return _json(asdict(self))  # type: ignore[call-overload]


@dataclass(frozen=True)
class BoxTruth(_Truth):
    """RefCOCO: the referred box ``(x1, y1, x2, y2)`` in pixels of the original image, and the phrase."""

    box: tuple[float, float, float, float]
    phrase: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "BoxTruth":
        box = _get(data, "box", (list, tuple), where)
        if len(box) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
            raise RowError(f"row {where!r}: meta.truth.box must be 4 numbers [x1, y1, x2, y2], got {box!r}")
        return cls(tuple(float(v) for v in box), str(data.get("phrase", "")))  # type: ignore[arg-type]


@dataclass(frozen=True)
class TextRegion(_Truth):
    """One scene-text region: polygon points in original pixels, its transcription, do-not-care flag."""

    points: tuple[tuple[float, float], ...]
    text: str
    dont_care: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "TextRegion":
        points = _get(data, "points", (list, tuple), where)
        if len(points) < 3 or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in points):
            raise RowError(f"row {where!r}: meta.truth.polygons[].points must be >= 3 [x, y] points, got {str(points)[:60]}")
        return cls(tuple((float(x), float(y)) for x, y in points), str(data.get("text", "")), bool(data.get("dont_care")))


@dataclass(frozen=True)
class TextDetTruth(_Truth):
    """Scene-text detection: every region of the image, do-not-care ones included."""

    polygons: tuple[TextRegion, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "TextDetTruth":
        polygons = _get(data, "polygons", (list, tuple), where)
        return cls(tuple(TextRegion.from_json(p, where) for p in polygons))


@dataclass(frozen=True)
class ClockTruth(_Truth):
    """Clock reading: the time shown, 12-hour dial (hour 0..12, minute 0..59)."""

    hour: int
    minute: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "ClockTruth":
        return cls(int(_get(data, "hour", (int, float, str), where)), int(_get(data, "minute", (int, float, str), where)))


@dataclass(frozen=True)
class AnswerTruth(_Truth):
    """GSM8k / arithmetic: the final answer as text (an integer, a decimal or ``p/q``; no commas)."""

    answer: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "AnswerTruth":
        return cls(str(_get(data, "answer", (str, int, float), where)))


PAIR_MODES = ("pairwise", "rating")


@dataclass(frozen=True)
class PairTruth(_Truth):
    """RewardBench judge rows.

    ``pairwise``: one row per pair; ``better`` is the position ("A"/"B") holding the chosen answer after
    the random ``swap``. ``rating``: one row per answer; ``response`` says which one ("chosen"/"rejected").
    """

    pair_id: str
    subset: str
    mode: str
    swap: bool | None
    better: str | None
    response: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.mode == "pairwise":
            del data["response"]  # pairwise rows never carried it
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "PairTruth":
        mode = data.get("mode", "pairwise")
        if mode not in PAIR_MODES:
            raise RowError(f"row {where!r}: meta.truth.mode must be 'pairwise' or 'rating', got {mode!r}")
        response = data.get("response")
        if mode == "rating" and response not in ("chosen", "rejected"):
            raise RowError(f"row {where!r}: rating rows need meta.truth.response = 'chosen' or 'rejected'")
        better = data.get("better") if mode == "rating" else _get(data, "better", str, where)
        swap = data.get("swap")
        if swap is not None and not isinstance(swap, bool):
            raise RowError(f"row {where!r}: meta.truth.swap must be true or false, got {swap!r}")
        return cls(str(_get(data, "pair_id", (str, int), where)), str(_get(data, "subset", str, where)), mode,
                   swap, better, response)


@dataclass(frozen=True)
class ScoresTruth(_Truth):
    """Reward scores a model is trained to write: ``{name: value}`` and the allowed ``range``."""

    scores: dict[str, float]
    range: tuple[float, float]
    mode: str = "scores"

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "scores": dict(self.scores), "range": list(self.range)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "ScoresTruth":
        scores = _get(data, "scores", dict, where)
        if not scores:
            raise RowError(f"row {where!r}: meta.truth.scores is missing or empty")
        low, high = data.get("range") or (float("-inf"), float("inf"))
        return cls({str(k): v for k, v in scores.items()}, (low, high))


Truth = Union[BoxTruth, TextDetTruth, ClockTruth, AnswerTruth, PairTruth, ScoresTruth]


def _reward_truth(data: Mapping[str, Any], where: str) -> Truth:
    if isinstance(data, Mapping) and data.get("mode") == "scores":
        return ScoresTruth.from_json(data, where)
    return PairTruth.from_json(data, where)


#: task name -> reader of its ``meta.truth``. This is THE list of tasks: the converter registry
#: (``metricsft.data.<task>:CONVERTER``) and the task registry (``metricsft.eval.tasks.<task>:TASK``) follow it.
TRUTH_READERS: dict[str, Callable[[Mapping[str, Any], str], Truth]] = {
    "refcoco": BoxTruth.from_json,
    "textdet": TextDetTruth.from_json,
    "clock": ClockTruth.from_json,
    "rewardbench": _reward_truth,
    "gsm8k": AnswerTruth.from_json,
    "arithmetic": AnswerTruth.from_json,
}


def read_truth(task: str, data: Mapping[str, Any], where: str) -> Truth:
    """The typed truth of one row of ``task``; a missing or mistyped key raises ``RowError``."""
    if task not in TRUTH_READERS:
        raise RowError(f"row {where!r}: no row contract for task {task!r} (known: {', '.join(TRUTH_READERS)})")
    return TRUTH_READERS[task](data, where)


# ----------------------------------------------------------------------------- image metadata


def image_meta(image: ImageInfo) -> dict[str, Any]:
    """The image keys of ``meta``: ``image_size`` = [width, height], plus the resize bounds when set.

    >>> image_meta(ImageInfo(640, 480))
    {'image_size': [640, 480]}
    >>> image_meta(ImageInfo(640, 480, 3136, 12845056))
    {'image_size': [640, 480], 'min_pixels': 3136, 'max_pixels': 12845056}
    """
    meta: dict[str, Any] = {"image_size": [image.width, image.height]}
    if image.min_pixels is not None or image.max_pixels is not None:
        meta["min_pixels"], meta["max_pixels"] = image.min_pixels, image.max_pixels
    return meta


def image_from_meta(meta: Mapping[str, Any], where: str) -> ImageInfo | None:
    """The ``ImageInfo`` that ``image_meta`` wrote, or None when the row records no image size.

    >>> image_from_meta({"image_size": [640, 480]}, "row-0")
    ImageInfo(width=640, height=480, min_pixels=None, max_pixels=None)
    """
    size = meta.get("image_size")
    if not size:
        return None
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise RowError(f"row {where!r}: meta.image_size must be [width, height], got {size!r}")
    return ImageInfo(int(size[0]), int(size[1]), meta.get("min_pixels"), meta.get("max_pixels"))
