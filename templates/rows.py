"""The row contract: what a converted row's ``meta`` holds, written by converters and read by tasks.

``metricsft data convert`` writes ``meta = {"task", "family", "split", <image metadata>, "truth": {...}}``;
``metricsft eval`` / ``score`` read the same keys back. Both sides go through one dataclass per task
(a ``Truth`` subclass: the task module's own, or one of the shared ones here that generic converter
helpers also build), so a key renamed on one side fails loudly on the other (``RowError`` names the
row and the key). Nothing here needs torch.

>>> truth = AnswerTruth(answer="42")
>>> truth.to_json()
{'answer': '42'}
>>> read_truth("gsm8k", {"answer": "42"}, "gsm8k/test/0")
AnswerTruth(answer='42')
>>> read_truth("gsm8k", {}, "gsm8k/test/0")
Traceback (most recent call last):
...
metricsft.templates.rows.RowError: row 'gsm8k/test/0': meta.truth.answer is missing; convert the data again with metricsft data convert
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

from metricsft.registry import Registry
from metricsft.tasks import task_registry

from .base import ImageInfo

#: transcription that marks a do-not-care text region (ICDAR 2015 and the formats that follow it)
DONT_CARE_TEXT = "###"


class RowError(ValueError):
    """A converted row that breaks the contract; the message names the row and the key."""


def truth_field(data: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    """``data[key]`` checked against ``kinds`` (booleans only when ``kinds`` names bool); else ``RowError``.

    >>> truth_field({"hour": 2}, "hour", int, "clock/test/0")
    2
    """
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


class Truth:
    """Base of every task's ``meta.truth`` dataclass: ``to_json`` writes it, the subclass's ``from_json`` reads it."""

    def to_json(self) -> dict[str, Any]:
        """The ``meta.truth`` object as written to the JSONL file."""
        return _json(asdict(self))  # type: ignore[call-overload]


# The truths below are shared: generic converter helpers (grounding.py, textdet_formats.py) and bench/
# build them too, so they live with the contract rather than in one task module (which would import
# those helpers back). A task's own truth lives in its module under metricsft.tasks.


@dataclass(frozen=True)
class BoxTruth(Truth):
    """RefCOCO: the referred box ``(x1, y1, x2, y2)`` in pixels of the original image, and the phrase."""

    box: tuple[float, float, float, float]
    phrase: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "BoxTruth":
        box = truth_field(data, "box", (list, tuple), where)
        if len(box) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
            raise RowError(f"row {where!r}: meta.truth.box must be 4 numbers [x1, y1, x2, y2], got {box!r}")
        return cls(tuple(float(v) for v in box), str(data.get("phrase", "")))  # type: ignore[arg-type]


@dataclass(frozen=True)
class TextRegion(Truth):
    """One scene-text region: polygon points in original pixels, its transcription, do-not-care flag."""

    points: tuple[tuple[float, float], ...]
    text: str
    dont_care: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "TextRegion":
        points = truth_field(data, "points", (list, tuple), where)
        if len(points) < 3 or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in points):
            raise RowError(f"row {where!r}: meta.truth.polygons[].points must be >= 3 [x, y] points, got {str(points)[:60]}")
        return cls(tuple((float(x), float(y)) for x, y in points), str(data.get("text", "")), bool(data.get("dont_care")))


@dataclass(frozen=True)
class AnswerTruth(Truth):
    """GSM8k / arithmetic: the final answer as text (an integer, a decimal or ``p/q``; no commas)."""

    answer: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "AnswerTruth":
        return cls(str(truth_field(data, "answer", (str, int, float), where)))


#: task name -> reader of its ``meta.truth`` (each task module's ``truth_from_json``), imported on first use
TRUTH_READERS: Registry[Callable[[Mapping[str, Any], str], Truth]] = task_registry("task", "truth_from_json")


def read_truth(task: str, data: Mapping[str, Any], where: str) -> Truth:
    """The typed truth of one row of ``task``; a missing or mistyped key raises ``RowError``."""
    if task not in TRUTH_READERS:
        raise RowError(f"row {where!r}: no row contract for task {task!r} (known: {', '.join(TRUTH_READERS.names)})")
    return TRUTH_READERS.load(task)(data, where)


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
