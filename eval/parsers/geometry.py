"""Boxes and polygons from model text, built on the family codecs of ``metricsft.templates``.

The codecs are strict (the whole text must be the family's syntax). Real generations wrap the answer
in prose, code fences or a slightly different list syntax, so we try, in order:

1. the codec on the whole text;
2. the codec on the family-shaped spans found inside the text (Qwen2-VL box/quad tokens, PaliGemma
   ``<loc>`` runs, a JSON list or a fenced JSON block, ``[...]`` lines) — the codec still decides
   what the numbers mean;
3. bare numbers: ``[x1, y1, x2, y2]``, ``(x1, y1, x2, y2)`` or ``(x1,y1),(x2,y2)`` for boxes, and
   lists of >= 3 points for polygons, read in the family's coordinate space (``codec.space``);
   PaliGemma's bare numbers are taken y-first like its ``<loc>`` tokens.

Nothing here raises on model output: every path ends in ``Parsed`` with a value or a reason.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator, TypeVar

from metricsft.templates import Box, Codec, ImageInfo, Parsed, Polygon
from metricsft.templates.base import NUMBER_RE

T = TypeVar("T")

_N = rf"\s*({NUMBER_RE})\s*"
_BARE_BOX = re.compile(
    rf"\[{_N},{_N},{_N},{_N}\]"  # [x1, y1, x2, y2]
    rf"|\({_N},{_N},{_N},{_N}\)"  # (x1, y1, x2, y2)
    rf"|\({_N},{_N}\)\s*,?\s*(?:to\s*)?\({_N},{_N}\)"  # (x1,y1),(x2,y2)
)
_POINT = rf"[\(\[]{_N},{_N}[\)\]]"
_POINT_RUN = re.compile(rf"{_POINT}(?:\s*,?\s*{_POINT}){{2,}}")
_FLAT_LIST = re.compile(rf"\[{_N}(?:,{_N}){{5,}}\]")

# Family-shaped spans worth handing to the codec on their own. Every pattern is linear-time on any
# input (bounded label lengths, no nested unbounded repeats): a runaway generation such as
# "1, 1, 1, ..." must not make scoring quadratic.
_FENCE = re.compile(r"```(?:json)?[ \t]*\n?(.*?)```", re.S)  # fenced JSON (Qwen2.5-VL)
_JSON_LIST_START = re.compile(r"\[\s*\{")
_LABEL = r"(?:[^\[\]:\n]{1,80}?\s*:\s*)?"
_REPEATED_SPANS: dict[str, tuple[re.Pattern[str], str]] = {
    # pattern of one object, and how the codec joins several
    "qwen2_vl": (
        re.compile(
            r"(?:<\|object_ref_start\|>[^<]*<\|object_ref_end\|>\s*)?"
            r"(?:<\|box_start\|>.*?<\|box_end\|>|<\|quad_start\|>.*?<\|quad_end\|>)",
            re.S,
        ),
        "",
    ),
    "paligemma": (re.compile(r"(?:<loc\d{4}>)+(?:[ \t]*[^;<>\n]*[^;<>\s])?"), " ; "),
    "llava": (re.compile(rf"{_LABEL}\[{_N}(?:,{_N})*\]"), "\n"),
    "llama": (re.compile(rf"{_LABEL}\[{_N}(?:,{_N})*\]"), "\n"),
}
_MAX_TEXT = 50_000  # generations longer than this are cut: a runaway answer must not stall scoring


def _candidates(text: str, family: str) -> Iterator[str]:
    yield text
    for match in _FENCE.finditer(text):
        yield match.group(1)
    start = _JSON_LIST_START.search(text)
    if start is not None:  # a JSON list of objects inside prose: from its first "[{" to the last "]"
        yield text[start.start() : text.rfind("]") + 1]
    if family in _REPEATED_SPANS:
        pattern, joiner = _REPEATED_SPANS[family]
        spans = [m.group(0).strip() for m in pattern.finditer(text)]
        if spans:
            yield joiner.join(spans)
            yield from spans


def _first_ok(parse: Callable[[str], Parsed[T]], text: str, family: str) -> tuple[Parsed[T] | None, str]:
    """The first candidate span the codec accepts, else None and the codec's reason on the whole text."""
    first_reason = ""
    for candidate in _candidates(text, family):
        result = parse(candidate)
        if result.ok and result.value:
            return result, ""
        first_reason = first_reason or (result.reason or "empty")
    return None, first_reason


def _decode_point(codec: Codec, a: float, b: float, image: ImageInfo) -> tuple[float, float] | str:
    if codec.family == "paligemma":
        a, b = b, a  # PaliGemma writes y before x
    reason = codec.space.check(a, b, image)  # type: ignore[attr-defined]
    return reason if reason else codec.space.decode(a, b, image)  # type: ignore[attr-defined]


def _checked(boxes: list[Box]) -> Parsed[list[Box]]:
    """Refuse empty or flipped boxes whatever path read them (IoU of such a box is meaningless)."""
    for box in boxes:
        if not (box.x2 > box.x1 and box.y2 > box.y1):
            return Parsed.failure(f"invalid box: needs x2 > x1 and y2 > y1, got {box.coords()}")
    return Parsed.success(boxes)


def parse_boxes(text: str, codec: Codec, image: ImageInfo) -> Parsed[list[Box]]:
    """All boxes in ``text`` in pixels of the original image, or the reason none could be read.

    >>> from metricsft.templates import get_codec
    >>> parse_boxes("Sure! The box is (100, 200), (300, 400).", get_codec("qwen2_vl"), ImageInfo(1000, 500)).value
    [Box(x1=100.0, y1=100.0, x2=300.0, y2=200.0, label=None)]
    """
    text = text[:_MAX_TEXT]
    found, reason = _first_ok(lambda t: codec.parse_boxes(t, image), text, codec.family)
    if found is not None:
        return _checked(found.value)  # type: ignore[arg-type]
    boxes: list[Box] = []
    for match in _BARE_BOX.finditer(text):
        a1, b1, a2, b2 = (float(v) for v in match.groups() if v is not None)
        p1, p2 = _decode_point(codec, a1, b1, image), _decode_point(codec, a2, b2, image)
        if isinstance(p1, str) or isinstance(p2, str):
            return Parsed.failure(f"box out of range: {p1 if isinstance(p1, str) else p2}")
        boxes.append(Box(p1[0], p1[1], p2[0], p2[1]))
    if boxes:
        return _checked(boxes)
    return Parsed.failure(f"no box found ({codec.family}: {reason})")


def parse_polygons(text: str, codec: Codec, image: ImageInfo) -> Parsed[list[Polygon]]:
    """All polygons in ``text`` in pixels of the original image, or the reason none could be read.

    >>> from metricsft.templates import get_codec
    >>> parse_polygons("Text at [10, 10, 50, 10, 50, 30, 10, 30].", get_codec("llama"), ImageInfo(100, 100)).value[0].points
    ((10.0, 10.0), (50.0, 10.0), (50.0, 30.0), (10.0, 30.0))
    """
    text = text[:_MAX_TEXT]
    found, reason = _first_ok(lambda t: codec.parse_polygons(t, image), text, codec.family)
    if found is not None:
        return found
    polygons: list[Polygon] = []
    runs = [m.group(0) for m in _POINT_RUN.finditer(text)] + [m.group(0) for m in _FLAT_LIST.finditer(text)]
    for run in runs:
        values = [float(v) for v in re.findall(NUMBER_RE, run)]
        if len(values) % 2:
            continue
        points = []
        for a, b in zip(values[::2], values[1::2]):
            point = _decode_point(codec, a, b, image)
            if isinstance(point, str):
                return Parsed.failure(f"polygon point out of range: {point}")
            points.append(point)
        polygons.append(Polygon(tuple(points)))
    if polygons:
        return Parsed.success(polygons)
    return Parsed.failure(f"no polygon found ({codec.family}: {reason})")
