"""Parsers for the annotation files of four scene-text benchmarks -> polygons in original pixels.

Each parser takes the file text and returns, per line, either a ``TextRegion`` or an error
string (the caller turns it into an ``Invalid`` naming file:line).

* ICDAR2015 ``gt_img_N.txt``: ``x1,y1,x2,y2,x3,y3,x4,y4,transcription`` (UTF-8 with BOM);
  ``###`` marks do-not-care regions. The transcription may itself contain commas.
* MSRA-TD500 ``IMG_N.gt``: ``index difficult x y w h angle``: a w x h rectangle whose top-left
  corner is (x, y) before it is rotated by ``angle`` radians about its centre; difficult = 1
  is do-not-care (TD500 has no transcriptions).
* CTW1500: either the 32-number training form ``xmin,ymin,xmax,ymax,dx1,dy1,...,dx14,dy14``
  (14 points as offsets from (xmin, ymin)), or the test form ``x1,y1,...,xn,yn,####text``.
* Total-Text legacy txt: ``x: [[x1 x2 ...]], y: [[y1 y2 ...]], ornt: [u'c'], transcriptions: [u'text']``;
  orientation ``#`` (or text ``#``) marks do-not-care.
"""

from __future__ import annotations

import math
import re
from typing import Callable

from metricsft.templates.rows import DONT_CARE_TEXT, TextRegion

Parsed = list[tuple[int, TextRegion | str]]  # (line number, region or error)


def _floats(parts: list[str]) -> list[float] | None:
    try:
        return [float(p) for p in parts]
    except ValueError:
        return None


def _pairs(values: list[float]) -> tuple[tuple[float, float], ...]:
    return tuple(zip(values[::2], values[1::2]))


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1) if line.strip()]


def parse_icdar2015(text: str) -> Parsed:
    out: Parsed = []
    for number, line in _lines(text):
        parts = line.split(",", 8)
        values = _floats(parts[:8]) if len(parts) == 9 else None
        if values is None:
            out.append((number, "expected 8 numbers and a transcription: x1,y1,x2,y2,x3,y3,x4,y4,text"))
            continue
        transcription = parts[8]
        out.append((number, TextRegion(_pairs(values), transcription, transcription == DONT_CARE_TEXT)))
    return out


def rotated_rectangle(x: float, y: float, w: float, h: float, angle: float) -> tuple[tuple[float, float], ...]:
    """Corners (clockwise from top-left) of a w x h box at (x, y) rotated by ``angle`` about its centre.

    >>> rotated_rectangle(0, 0, 4, 2, 0.0)
    ((0.0, 0.0), (4.0, 0.0), (4.0, 2.0), (0.0, 2.0))
    """
    cx, cy = x + w / 2, y + h / 2
    cos, sin = math.cos(angle), math.sin(angle)
    corners = []
    for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        corners.append((cx + dx * cos - dy * sin, cy + dx * sin + dy * cos))
    return tuple(corners)


def parse_td500(text: str) -> Parsed:
    out: Parsed = []
    for number, line in _lines(text):
        values = _floats(line.split())
        if values is None or len(values) != 7:
            out.append((number, "expected 7 numbers: index difficult x y w h angle"))
            continue
        _, difficult, x, y, w, h, angle = values
        out.append((number, TextRegion(rotated_rectangle(x, y, w, h, angle), "", difficult == 1)))
    return out


def parse_ctw1500(text: str) -> Parsed:
    out: Parsed = []
    for number, line in _lines(text):
        if "####" in line:
            coords, _, transcription = line.partition("####")
            values = _floats([p for p in coords.split(",") if p.strip()])
            if values is None or len(values) < 6 or len(values) % 2:
                out.append((number, "expected x1,y1,...,xn,yn,####text with at least 3 points"))
                continue
            out.append((number, TextRegion(_pairs(values), transcription, transcription == DONT_CARE_TEXT)))
            continue
        values = _floats(line.split(","))
        if values is None or len(values) != 32:
            out.append((number, "expected 32 numbers (xmin,ymin,xmax,ymax + 14 offset points) or x1,y1,...,####text"))
            continue
        xmin, ymin = values[0], values[1]
        offsets = _pairs(values[4:])
        out.append((number, TextRegion(tuple((xmin + dx, ymin + dy) for dx, dy in offsets), "", False)))
    return out


_TOTALTEXT = re.compile(
    r"x:\s*\[\[([^\]]*)\]\],\s*y:\s*\[\[([^\]]*)\]\],\s*ornt:\s*\[u?'([^']*)'\],\s*transcriptions:\s*\[u?'(.*)'\]\s*$"
)


def parse_totaltext(text: str) -> Parsed:
    out: Parsed = []
    for number, line in _lines(text):
        match = _TOTALTEXT.match(line)
        xs = _floats(match.group(1).split()) if match else None
        ys = _floats(match.group(2).split()) if match else None
        if match is None or xs is None or ys is None or len(xs) != len(ys) or len(xs) < 3:
            out.append((number, "expected x: [[...]], y: [[...]], ornt: [u'c'], transcriptions: [u'text'] with >= 3 points"))
            continue
        orientation, transcription = match.group(3), match.group(4)
        dont_care = orientation == "#" or transcription in ("#", DONT_CARE_TEXT)
        out.append((number, TextRegion(tuple(zip(xs, ys)), transcription, dont_care)))
    return out


PARSERS: dict[str, Callable[[str], Parsed]] = {
    "icdar2015": parse_icdar2015,
    "td500": parse_td500,
    "ctw1500": parse_ctw1500,
    "totaltext": parse_totaltext,
}


def detect_layout(suffix: str, text: str) -> str:
    """Guess the benchmark from an annotation file (``--layout`` overrides)."""
    if suffix.lower() == ".gt":
        return "td500"
    first = next((line for _, line in _lines(text)), "")
    if first.startswith("x:"):
        return "totaltext"
    if "####" in first or len(first.split(",")) == 32:
        return "ctw1500"
    return "icdar2015"
