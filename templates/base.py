"""Shared value types and the codec base class.

A *codec* knows how one model family writes numbers that describe an image or an answer
(boxes, polygons, a clock time, scores, a final answer) and how to read them back.
Formatting raises ``ValueError`` on values the family cannot express (a box outside the
image, an unknown hour); parsing never raises: it returns ``Parsed`` with a ``reason``.

>>> from metricsft.templates import get_codec, Box, ImageInfo
>>> codec = get_codec("qwen2_vl")
>>> text = codec.format_boxes([Box(10, 20, 110, 220)], ImageInfo(width=200, height=400))
>>> text
'<|box_start|>(50,50),(550,550)<|box_end|>'
>>> codec.parse_boxes(text, ImageInfo(200, 400)).value
[Box(x1=10.0, y1=20.0, x2=110.0, y2=220.0, label=None)]
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Generic, Mapping, Sequence, TypeVar

if TYPE_CHECKING:
    from .coordinates import CoordinateSpace

T = TypeVar("T")


@dataclass(frozen=True)
class ImageInfo:
    """Size of the ORIGINAL image (pixels) plus the resize bounds some families need."""

    width: int
    height: int
    min_pixels: int | None = None
    max_pixels: int | None = None

    def __post_init__(self) -> None:
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"image size must be positive, got width={self.width} height={self.height}")


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in absolute pixels of the original image (floats)."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str | None = None

    def coords(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True)
class Polygon:
    """Closed polygon (e.g. a text quadrilateral) in absolute pixels of the original image."""

    points: tuple[tuple[float, float], ...]
    label: str | None = None


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """Result of parsing model text: ``value`` when ok, else ``reason`` says why not."""

    value: T | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    @classmethod
    def success(cls, value: T) -> "Parsed[T]":
        return cls(value=value, reason=None)

    @classmethod
    def failure(cls, reason: str) -> "Parsed[T]":
        return cls(value=None, reason=reason)


# ----------------------------------------------------------------------------- helpers

NUMBER_RE = r"-?\d+(?:\.\d+)?"
_NUMBER_FULL = re.compile(rf"^\s*({NUMBER_RE})\s*$")
_FRACTION_FULL = re.compile(r"^\s*(-?\d+)\s*/\s*(\d+)\s*$")


def round_half_up(value: float) -> int:
    """Round .5 away from zero for positive grids (Python's round() is banker's rounding).

    Qwen2-VL's 0-1000 grid values in real data follow half-up: 170.5 -> 171.

    >>> round_half_up(170.5), round_half_up(2.4999)
    (171, 2)
    """
    return int(math.floor(value + 0.5))


def format_number(value: float | int | Fraction | Decimal) -> str:
    """Write a number in plain positional notation (never ``1e-05``), integers without ``.0``.

    >>> format_number(3.0), format_number(-0.25), format_number(1e-05), format_number(Fraction(-3, 4))
    ('3', '-0.25', '0.00001', '-3/4')
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {value!r}")
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot write the non-finite number {value!r}")
    # repr() is the shortest text that reads back as the same float; Decimal turns it positional.
    text = format(Decimal(repr(value)) if isinstance(value, float) else value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_number(text: str) -> float | None:
    """Read one plain number (the whole text), or None."""
    match = _NUMBER_FULL.match(text)
    return float(match.group(1)) if match else None


def check_label(label: str | None, forbidden: str, family: str) -> None:
    """Labels are written inline; refuse characters that would make the text ambiguous."""
    if label is None:
        return
    bad = [c for c in forbidden if c in label]
    if bad or label != label.strip() or not label or "\n" in label:
        raise ValueError(
            f"{family}: label {label!r} cannot be written unambiguously "
            f"(no leading/trailing spaces, newlines or any of {forbidden!r}); clean the label first"
        )


def check_box_in_image(box: Box, image: ImageInfo) -> None:
    """A box must lie inside the original image and have x1 <= x2, y1 <= y2."""
    x1, y1, x2, y2 = box.coords()
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ValueError(f"box {box.coords()} has a non-finite coordinate")
    if x1 > x2 or y1 > y2:
        raise ValueError(f"box {box.coords()} has x1 > x2 or y1 > y2; write boxes as (x1, y1, x2, y2)")
    if x1 < 0 or y1 < 0 or x2 > image.width or y2 > image.height:
        raise ValueError(
            f"box {box.coords()} lies outside the {image.width}x{image.height} image; "
            "fix the annotation or skip the row (--skip-invalid)"
        )


def check_polygon_in_image(polygon: Polygon, image: ImageInfo) -> None:
    if len(polygon.points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(polygon.points)}")
    for x, y in polygon.points:
        if not (math.isfinite(x) and math.isfinite(y)) or not (0 <= x <= image.width and 0 <= y <= image.height):
            raise ValueError(
                f"polygon point ({x}, {y}) lies outside the {image.width}x{image.height} image; "
                "fix the annotation or skip the row (--skip-invalid)"
            )


def scan_items(text: str, item: re.Pattern[str], separator: str, what: str) -> list[re.Match[str]] | str:
    """Split ``text`` into consecutive ``item`` matches joined by ``separator`` (a regex).

    Returns the matches, or a reason string when anything else appears (codecs are strict:
    tolerant extraction from prose belongs to ``metricsft.eval.parsers``).
    """
    matches: list[re.Match[str]] = []
    sep = re.compile(separator)
    pos, end = 0, len(text.rstrip())
    pos = len(text) - len(text.lstrip())
    while pos < end:
        if matches:
            gap = sep.match(text, pos)
            if not gap:
                return f"expected a separator between {what} items at character {pos}: {text[pos:pos + 40]!r}"
            pos = gap.end()
        match = item.match(text, pos)
        if not match:
            return f"expected {what} at character {pos}: {text[pos:pos + 60]!r}"
        matches.append(match)
        pos = match.end()
    if not matches:
        return f"no {what} found in {text[:80]!r}"
    return matches


# ----------------------------------------------------------------------------- codec base

_TIME_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_SCORE_ITEM_RE = re.compile(rf"^\s*([^:,\n]+?)\s*:\s*({NUMBER_RE})\s*$")


class Codec(ABC):
    """Writes and reads one family's numbers. Subclasses set ``family`` and the box/polygon syntax.

    Time, scores and answers are written the same way by every family (plain text numbers),
    so they live here; a family overrides them only when its models were trained otherwise.
    """

    family: str = ""
    #: how people write the family's name, and a checkpoint to fine-tune (used in generated configs)
    display_name: str = ""
    example_model: str = ""
    #: one line saying how boxes and polygons are written (generated config headers, docs)
    geometry_syntax: str = ""
    #: LLaMA-Factory chat template that matches this family
    llamafactory_template: str = ""
    #: whether rows of this family carry an image (llama is text only)
    has_images: bool = True
    #: whether the family repeats the referring phrase as the box label in grounding answers
    #: (Qwen2-VL's object_ref, Qwen2.5-VL's "label", PaliGemma's trailing label; LLaVA-1.5 does not)
    grounding_label: bool = True
    #: characters a label cannot contain in this family's syntax
    label_forbidden: str = ""
    #: whether the written numbers depend on the processor's resize bounds (min/max pixels), which
    #: rows then record next to the image size (Qwen2.5-VL's smart_resize)
    uses_resize_bounds: bool = False
    #: original pixels <-> written numbers (every family sets one)
    space: "CoordinateSpace"
    #: whether each point is written y first (PaliGemma's ``<locY><locX>``)
    yx_order: bool = False
    #: one object (box or polygon) of this family's syntax inside free text; lenient parsers
    #: (``metricsft.eval.parsers.geometry``) hand each such span back to the codec. The pattern must
    #: be linear-time on any input (bounded labels, no nested unbounded repeats).
    object_span: "re.Pattern[str] | None" = None

    def image_info(self, width: int, height: int, min_pixels: int | None = None, max_pixels: int | None = None) -> ImageInfo:
        """The ``ImageInfo`` this family needs for an image: the resize bounds only where they matter.

        >>> from metricsft.templates import get_codec
        >>> get_codec("llava").image_info(640, 480, 3136, 12845056)
        ImageInfo(width=640, height=480, min_pixels=None, max_pixels=None)
        """
        if self.uses_resize_bounds:
            return ImageInfo(width, height, min_pixels, max_pixels)
        return ImageInfo(width, height)

    def encode_point(self, x: float, y: float, image: ImageInfo) -> tuple[float, float]:
        """Original pixels -> the two numbers as written, in the family's order.

        >>> from metricsft.templates import get_codec
        >>> get_codec("paligemma").encode_point(10, 20, ImageInfo(1023, 1023))
        (20, 10)
        """
        a, b = self.space.encode(x, y, image)
        return (b, a) if self.yx_order else (a, b)

    def decode_point(self, first: float, second: float, image: ImageInfo) -> tuple[float, float] | str:
        """Two numbers as written -> original pixels, or the reason they are out of range.

        >>> from metricsft.templates import get_codec
        >>> get_codec("paligemma").decode_point(20, 10, ImageInfo(1023, 1023))
        (10.0, 20.0)
        """
        a, b = (second, first) if self.yx_order else (first, second)
        reason = self.space.check(a, b, image)
        return reason if reason else self.space.decode(a, b, image)

    def object_pattern(self, kind: str) -> "re.Pattern[str] | None":
        """The pattern of one ``kind`` ("box" or "polygon") object inside prose (``object_span``)."""
        return self.object_span

    def clean_label(self, label: str | None) -> str | None:
        """``label`` without the characters this family cannot write (None if nothing is left).

        Used for free text such as scene-text transcriptions; the original stays in ``meta.truth``.

        >>> from metricsft.templates import get_codec
        >>> get_codec("paligemma").clean_label("  SALE; 50%  ")
        'SALE 50%'
        """
        if label is None:
            return None
        kept = "".join(" " if c in self.label_forbidden else c for c in label)
        kept = " ".join(kept.split())
        return kept or None

    # -- boxes and polygons: family specific ------------------------------------------------
    @abstractmethod
    def format_boxes(self, boxes: Sequence[Box], image: ImageInfo) -> str:
        """Write boxes (absolute pixels of the original image) in this family's convention."""

    @abstractmethod
    def parse_boxes(self, text: str, image: ImageInfo) -> Parsed[list[Box]]:
        """Read boxes back into absolute pixels of the original image."""

    @abstractmethod
    def format_polygons(self, polygons: Sequence[Polygon], image: ImageInfo) -> str:
        """Write polygons (absolute pixels of the original image)."""

    @abstractmethod
    def parse_polygons(self, text: str, image: ImageInfo) -> Parsed[list[Polygon]]:
        """Read polygons back into absolute pixels of the original image."""

    # -- clock time --------------------------------------------------------------------------
    def format_time(self, hour: int, minute: int) -> str:
        """``H:MM`` with 12-hour semantics (hour 0..12, minute 0..59).

        >>> from metricsft.templates import get_codec
        >>> get_codec("llama").format_time(2, 5)
        '2:05'
        """
        if isinstance(hour, bool) or isinstance(minute, bool) or int(hour) != hour or int(minute) != minute:
            raise ValueError(f"time must be integers, got hour={hour!r} minute={minute!r}")
        if not (0 <= hour <= 12 and 0 <= minute <= 59):
            raise ValueError(f"time {hour}:{minute} is not a 12-hour clock time (hour 0..12, minute 0..59)")
        return f"{int(hour)}:{int(minute):02d}"

    def parse_time(self, text: str) -> Parsed[tuple[int, int]]:
        match = _TIME_RE.match(text)
        if not match:
            return Parsed.failure(f"expected a time written H:MM, got {text[:80]!r}")
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour > 12 or minute > 59:
            return Parsed.failure(f"{hour}:{minute:02d} is not a 12-hour clock time")
        return Parsed.success((hour, minute))

    # -- scores --------------------------------------------------------------------------------
    def format_scores(self, scores: float | Mapping[str, float]) -> str:
        """One number, or ``name: value`` pairs separated by ``, `` (HelpSteer-style attributes).

        >>> from metricsft.templates import get_codec
        >>> get_codec("llama").format_scores({"helpfulness": 3, "correctness": 4.5})
        'helpfulness: 3, correctness: 4.5'
        """
        if isinstance(scores, Mapping):
            if not scores:
                raise ValueError("no scores to write")
            parts = []
            for name, value in scores.items():
                check_label(name, ":,", self.family)
                parts.append(f"{name}: {format_number(value)}")
            return ", ".join(parts)
        return format_number(scores)

    def parse_scores(self, text: str) -> Parsed[dict[str, float]]:
        single = parse_number(text)
        if single is not None:
            return Parsed.success({"score": single})
        scores: dict[str, float] = {}
        for part in text.strip().split(","):
            match = _SCORE_ITEM_RE.match(part)
            if not match:
                return Parsed.failure(f"expected a number or 'name: value, ...', got {text[:80]!r}")
            if match.group(1) in scores:
                return Parsed.failure(f"score {match.group(1)!r} appears twice")
            scores[match.group(1)] = float(match.group(2))
        return Parsed.success(scores)

    # -- final answers ---------------------------------------------------------------------------
    def format_answer(self, value: str | int | float | Fraction) -> str:
        """The bare canonical answer: an integer, a decimal or a fraction ``p/q``; commas removed.

        >>> from metricsft.templates import get_codec
        >>> get_codec("llama").format_answer("1,234"), get_codec("llama").format_answer(Fraction(6, -8))
        ('1234', '-3/4')
        """
        if isinstance(value, str):
            parsed = self.parse_answer(value.replace(",", ""))
            if not parsed.ok:
                raise ValueError(f"answer {value!r} is not a number or fraction: {parsed.reason}")
            return parsed.value  # type: ignore[return-value]
        return format_number(value)

    def parse_answer(self, text: str) -> Parsed[str]:
        frac = _FRACTION_FULL.match(text)
        if frac:
            if int(frac.group(2)) == 0:
                return Parsed.failure(f"fraction with zero denominator: {text[:80]!r}")
            return Parsed.success(format_number(Fraction(int(frac.group(1)), int(frac.group(2)))))
        match = _NUMBER_FULL.match(text)
        if not match:
            return Parsed.failure(f"expected a bare number or fraction, got {text[:80]!r}")
        return Parsed.success(format_number(Decimal(match.group(1))))

    # -- prompts ----------------------------------------------------------------------------------
    def prompt(self, task: str, **fields: object) -> str:
        """The user prompt for ``task`` in this family's wording (the task module's default, or ``prompts.yaml``).

        >>> from metricsft.templates import get_codec
        >>> get_codec("llama").prompt("refcoco", phrase="the red car")  # doctest: +ELLIPSIS
        '...the red car...'
        """
        from .prompts import render_prompt

        return render_prompt(self.family, task, **fields)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(family={self.family!r})"

