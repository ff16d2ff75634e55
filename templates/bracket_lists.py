"""Plain-text list syntax shared by LLaVA-1.5 and Llama: ``label: [x1, y1, x2, y2]``, one object per line.

A box is 4 numbers; a polygon is 2n numbers (n >= 3 points, x before y). The two families
differ only in the coordinate space (``coordinates.py``) and how many decimals they write.
"""

from __future__ import annotations

import re
from typing import Sequence

from .base import (
    NUMBER_RE,
    Box,
    Codec,
    ImageInfo,
    Parsed,
    Polygon,
    check_box_in_image,
    check_label,
    check_polygon_in_image,
    format_number,
    scan_items,
)
from .coordinates import CoordinateSpace

_ITEM = re.compile(rf"(?:([^\[\]:\n]+?)\s*:\s*)?\[\s*({NUMBER_RE}(?:\s*,\s*{NUMBER_RE})*)\s*\]")
_SEPARATOR = r"[ \t]*(?:\n|;)\s*"


class BracketListCodec(Codec):
    """Objects as ``label: [numbers]`` lines; subclasses choose ``space`` and ``decimals``."""

    space: CoordinateSpace
    label_forbidden = ":[];"
    #: digits after the decimal point; None writes integers
    decimals: int | None = None

    def _write(self, value: float) -> str:
        return format_number(int(value)) if self.decimals is None else f"{value:.{self.decimals}f}"

    def _line(self, label: str | None, points: Sequence[tuple[float, float]], image: ImageInfo) -> str:
        check_label(label, self.label_forbidden, self.family)
        numbers = []
        for x, y in points:
            numbers.extend(self.space.encode(x, y, image))
        body = "[" + ", ".join(self._write(v) for v in numbers) + "]"
        return body if label is None else f"{label}: {body}"

    def _read(self, text: str, image: ImageInfo, what: str) -> list[tuple[str | None, list[tuple[float, float]]]] | str:
        items = scan_items(text, _ITEM, _SEPARATOR, what)
        if isinstance(items, str):
            return items
        objects = []
        for item in items:
            values = [float(v) for v in re.findall(NUMBER_RE, item.group(2))]
            if len(values) % 2:
                return f"odd number of coordinates in {item.group(0)[:60]!r}"
            points = []
            for a, b in zip(values[::2], values[1::2]):
                reason = self.space.check(a, b, image)
                if reason:
                    return reason
                points.append(self.space.decode(a, b, image))
            objects.append((item.group(1), points))
        return objects

    def format_boxes(self, boxes: Sequence[Box], image: ImageInfo) -> str:
        if not boxes:
            raise ValueError("no boxes to write")
        lines = []
        for box in boxes:
            check_box_in_image(box, image)
            lines.append(self._line(box.label, [(box.x1, box.y1), (box.x2, box.y2)], image))
        return "\n".join(lines)

    def parse_boxes(self, text: str, image: ImageInfo) -> Parsed[list[Box]]:
        objects = self._read(text, image, "[x1, y1, x2, y2]")
        if isinstance(objects, str):
            return Parsed.failure(objects)
        boxes = []
        for label, points in objects:
            if len(points) != 2:
                return Parsed.failure(f"a box has 4 numbers, got {2 * len(points)}")
            (x1, y1), (x2, y2) = points
            boxes.append(Box(x1, y1, x2, y2, label=label))
        return Parsed.success(boxes)

    def format_polygons(self, polygons: Sequence[Polygon], image: ImageInfo) -> str:
        if not polygons:
            raise ValueError("no polygons to write")
        lines = []
        for polygon in polygons:
            check_polygon_in_image(polygon, image)
            lines.append(self._line(polygon.label, polygon.points, image))
        return "\n".join(lines)

    def parse_polygons(self, text: str, image: ImageInfo) -> Parsed[list[Polygon]]:
        objects = self._read(text, image, "[x1, y1, x2, y2, x3, y3, ...]")
        if isinstance(objects, str):
            return Parsed.failure(objects)
        polygons = []
        for label, points in objects:
            if len(points) < 3:
                return Parsed.failure(f"a polygon needs at least 3 points (6 numbers), got {2 * len(points)}")
            polygons.append(Polygon(tuple(points), label=label))
        return Parsed.success(polygons)
