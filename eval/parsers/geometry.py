"""Boxes and polygons from model text, built on the family codecs of ``metricsft.templates``.

The codecs are strict (the whole text must be the family's syntax). Real generations wrap the answer
in prose, code fences or a slightly different list syntax, so we try, in order:

1. the codec on the whole text;
2. the codec on each family-shaped object found inside the text (one Qwen2-VL box/quad, one run of
   PaliGemma ``<loc>`` tokens, one flat JSON object, one ``label: [...]`` list) — the codec still
   decides what the numbers mean; when no object is valid on its own, each fenced block and the JSON
   list (``[{...}]``) inside the text are read whole (objects with nested fields);
3. bare numbers: ``[x1, y1, x2, y2]``, ``(x1, y1, x2, y2)`` or ``(x1,y1),(x2,y2)`` for boxes, and
   lists of >= 3 points for polygons, read in the family's coordinate space (``codec.space``);
   PaliGemma's bare numbers are taken y-first like its ``<loc>`` tokens.

Steps 2 and 3 read every object on its own: a malformed or out-of-range object is dropped and its
reason kept in ``rejected``, the valid ones are returned (one bad quad must not hide the good ones).
A box with x2 < x1 or y2 < y1 is malformed; a zero-area box (e.g. a LLaVA box lying wholly in the
padding, which decodes to the image edge) is kept: it is a real answer whose IoU is 0.

Nothing here raises on model output: every path ends in ``Parsed`` with a value or a reason, and
over-long numbers or deep nesting are refused before any conversion (``bounded.guarded``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

from metricsft.eval.parsers.bounded import guarded, too_complex
from metricsft.templates import Box, Codec, ImageInfo, Parsed, Polygon
from metricsft.templates.base import NUMBER_RE

R = TypeVar("R", Box, Polygon)

_N = rf"\s*({NUMBER_RE})\s*"
_BARE_BOX = re.compile(
    rf"\[{_N},{_N},{_N},{_N}\]"  # [x1, y1, x2, y2]
    rf"|\({_N},{_N},{_N},{_N}\)"  # (x1, y1, x2, y2)
    rf"|\({_N},{_N}\)\s*,?\s*(?:to\s*)?\({_N},{_N}\)"  # (x1,y1),(x2,y2)
)
_POINT = rf"[\(\[]{_N},{_N}[\)\]]"
_POINT_RUN = re.compile(rf"{_POINT}(?:\s*,?\s*{_POINT}){{2,}}")
_FLAT_LIST = re.compile(rf"\[{_N}(?:,{_N}){{5,}}\]")

_FENCE = re.compile(r"```(?:json)?[ \t]*\n?(.*?)```", re.S)  # fenced block (Qwen2.5-VL writes ```json)
_JSON_LIST_START = re.compile(r"\[\s*\{")
_MAX_TEXT = 50_000  # generations longer than this are cut: a runaway answer must not stall scoring


@dataclass(frozen=True)
class ParsedRegions(Parsed[list[R]]):
    """``Parsed`` plus why each dropped object was dropped.

    ``ok`` with ``rejected`` non-empty means: these are the valid regions, and ``len(rejected)`` more
    were written but malformed. Not ``ok``: no valid region; ``reason`` is the first rejection or why
    nothing region-like was found.
    """

    rejected: tuple[str, ...] = ()


def _whole_answers(text: str) -> Iterator[str]:
    """The text, each fenced block, and the JSON list of objects inside prose (its first "[{" to the last "]")."""
    yield text
    for match in _FENCE.finditer(text):
        yield match.group(1)
    start = _JSON_LIST_START.search(text)
    if start is not None:
        yield text[start.start() : text.rfind("]") + 1]


def _object_spans(text: str, codec: Codec, kind: str) -> Iterator[str]:
    # the codec owns its syntax: one object of it inside prose
    pattern = codec.object_pattern("box" if kind == "boxes" else "polygon")
    if pattern is not None:
        for match in pattern.finditer(text):
            yield match.group(0).strip()


def _decode_point(codec: Codec, a: float, b: float, image: ImageInfo) -> tuple[float, float] | str:
    return codec.decode_point(a, b, image)  # in the family's order (PaliGemma: y first) and space


def _flipped(box: Box) -> str | None:
    """A box with x2 < x1 or y2 < y1 has no meaning; a zero-area one is a (wrong) answer with IoU 0."""
    if box.x2 < box.x1 or box.y2 < box.y1:
        return f"invalid box: needs x2 >= x1 and y2 >= y1, got {tuple(round(v, 2) for v in box.coords())}"
    return None


def _bare_boxes(text: str, codec: Codec, image: ImageInfo) -> Iterator[Box | str]:
    for match in _BARE_BOX.finditer(text):
        too_long = too_complex(match.group(0))
        if too_long:
            yield too_long
            continue
        a1, b1, a2, b2 = (float(v) for v in match.groups() if v is not None)
        p1, p2 = _decode_point(codec, a1, b1, image), _decode_point(codec, a2, b2, image)
        if isinstance(p1, str) or isinstance(p2, str):
            yield f"box out of range: {p1 if isinstance(p1, str) else p2}"
            continue
        yield Box(p1[0], p1[1], p2[0], p2[1])


def _bare_polygons(text: str, codec: Codec, image: ImageInfo) -> Iterator[Polygon | str]:
    runs = [m.group(0) for m in _POINT_RUN.finditer(text)] + [m.group(0) for m in _FLAT_LIST.finditer(text)]
    for run in runs:
        too_long = too_complex(run)
        if too_long:
            yield too_long
            continue
        values = [float(v) for v in re.findall(NUMBER_RE, run)]
        if len(values) % 2:
            yield f"odd number of coordinates in {run[:60]!r}"
            continue
        points = [_decode_point(codec, a, b, image) for a, b in zip(values[::2], values[1::2])]
        bad = next((p for p in points if isinstance(p, str)), None)
        yield f"polygon point out of range: {bad}" if bad else Polygon(tuple(points))  # type: ignore[arg-type]


def _collect(items: Iterator[R | str], check: Callable[[R], str | None]) -> tuple[list[R], list[str]]:
    """Split parsed objects and rejection reasons; ``check`` may reject a parsed object too."""
    kept: list[R] = []
    rejected: list[str] = []
    for item in items:
        reason = item if isinstance(item, str) else check(item)
        if reason:
            rejected.append(reason)
        else:
            kept.append(item)  # type: ignore[arg-type]
    return kept, rejected


def _codec_objects(parse: Callable[[str], Parsed[list[R]]], spans: Iterator[str]) -> Iterator[R | str]:
    for span in spans:
        result = guarded(parse, span)
        if result.ok and result.value:
            yield from result.value
        else:
            yield result.reason or "empty"


def _parse_regions(
    text: str,
    codec: Codec,
    kind: str,
    parse: Callable[[str], Parsed[list[R]]],
    bare: Callable[[str], Iterator[R | str]],
    check: Callable[[R], str | None],
) -> ParsedRegions[R]:
    text = text[:_MAX_TEXT]
    whole = guarded(parse, text)
    if whole.ok and whole.value:
        kept, rejected = _collect(iter(whole.value), check)
    else:
        kept, rejected = _collect(_codec_objects(parse, _object_spans(text, codec, kind)), check)
        if not kept:  # a fenced block or JSON list the codec reads entirely (e.g. objects with nested fields)
            block = next((r for r in (guarded(parse, t) for t in _whole_answers(text)) if r.ok and r.value), None)
            if block is not None:
                kept, rejected = _collect(iter(block.value), check)  # type: ignore[arg-type]
        if not kept and not rejected:  # nothing in the family's syntax: bare numbers
            kept, rejected = _collect(bare(text), check)
    if kept:
        return ParsedRegions(value=kept, reason=None, rejected=tuple(rejected))
    if rejected:
        return ParsedRegions(value=None, reason=rejected[0], rejected=tuple(rejected))
    what = "box" if kind == "boxes" else "polygon"
    return ParsedRegions(value=None, reason=f"no {what} found ({codec.family}: {whole.reason or 'empty'})")


def parse_boxes(text: str, codec: Codec, image: ImageInfo) -> ParsedRegions[Box]:
    """Every valid box in ``text`` in pixels of the original image; malformed ones are listed in ``rejected``.

    >>> from metricsft.templates import get_codec
    >>> parse_boxes("Sure! The box is (100, 200), (300, 400).", get_codec("qwen2_vl"), ImageInfo(1000, 500)).value
    [Box(x1=100.0, y1=100.0, x2=300.0, y2=200.0, label=None)]
    >>> found = parse_boxes("[10, 10, 50, 50]\\n[90, 90, 5, 5]", get_codec("llama"), ImageInfo(100, 100))
    >>> [b.coords() for b in found.value], found.rejected
    ([(10.0, 10.0, 50.0, 50.0)], ('invalid box: needs x2 >= x1 and y2 >= y1, got (90.0, 90.0, 5.0, 5.0)',))
    """
    return _parse_regions(
        text, codec, "boxes", lambda t: codec.parse_boxes(t, image), lambda t: _bare_boxes(t, codec, image), _flipped
    )


def parse_polygons(text: str, codec: Codec, image: ImageInfo) -> ParsedRegions[Polygon]:
    """Every valid polygon in ``text`` in pixels of the original image; malformed ones are listed in ``rejected``.

    >>> from metricsft.templates import get_codec
    >>> parse_polygons("Text at [10, 10, 50, 10, 50, 30, 10, 30].", get_codec("llama"), ImageInfo(100, 100)).value[0].points
    ((10.0, 10.0), (50.0, 10.0), (50.0, 30.0), (10.0, 30.0))
    """
    return _parse_regions(
        text, codec, "polygons", lambda t: codec.parse_polygons(t, image),
        lambda t: _bare_polygons(t, codec, image), lambda _: None,
    )
