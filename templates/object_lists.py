"""Boxes and polygons as lists of objects: the logic every family shares, written once.

Every family writes a box as two points and a polygon as n >= 3 points, each object with an optional
label; families differ only in the *syntax* of one object and the *coordinate space* of the numbers.
A family codec therefore implements two small methods,

* ``write_objects(kind, objects)``: ``[(label, [written numbers])]`` -> text, and
* ``read_objects(kind, text)``: text -> ``[(label, [written numbers])]`` or the reason it cannot,

and this class does the rest: range checks, coordinate encoding (including PaliGemma's y-before-x
order, ``Codec.yx_order``), the point count of a box or polygon, and ``Parsed`` results.

>>> from metricsft.templates import get_codec, ImageInfo
>>> get_codec("llama").parse_boxes("[1, 2, 3, 4]; [5, 6, 7]", ImageInfo(10, 10)).reason
'odd number of numbers in [5.0, 6.0, 7.0]'
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import Literal, Sequence

from .base import Box, Codec, ImageInfo, Parsed, Polygon, check_box_in_image, check_label, check_polygon_in_image, scan_items

Kind = Literal["box", "polygon"]
#: one object as written: its label and its numbers in written order
WrittenObject = tuple["str | None", list[float]]


class ObjectListCodec(Codec):
    """A codec whose boxes and polygons are lists of labelled point lists (every family here)."""

    #: what one written number is called in error messages
    number_word: str = "numbers"
    #: whether a box must have y2 > y1 and x2 > x1 *after* quantisation (PaliGemma)
    box_needs_area: bool = False

    # -- the two family-specific methods --------------------------------------------------------
    @abstractmethod
    def write_objects(self, kind: Kind, objects: list[WrittenObject]) -> str:
        """Text for objects whose numbers are already encoded (and labels already checked)."""

    @abstractmethod
    def read_objects(self, kind: Kind, text: str) -> list[WrittenObject] | str:
        """The objects in ``text`` (numbers as written), or the reason ``text`` is not this syntax."""

    # -- writing ------------------------------------------------------------------------------------
    def _encoded(self, label: str | None, points: Sequence[tuple[float, float]], image: ImageInfo) -> WrittenObject:
        check_label(label, self.label_forbidden, self.family)
        return label, [v for x, y in points for v in self.encode_point(x, y, image)]

    def _checked_box(self, box: Box, image: ImageInfo) -> Sequence[tuple[float, float]]:
        """The two corners of a box this family can write (raises ValueError otherwise)."""
        check_box_in_image(box, image)
        if self.box_needs_area:
            (a1, b1), (a2, b2) = self.space.encode(box.x1, box.y1, image), self.space.encode(box.x2, box.y2, image)
            if not (a2 > a1 and b2 > b1):
                raise ValueError(
                    f"box {box.coords()} collapses to an empty box in {self.family}'s written {self.number_word} "
                    f"(needs y2 > y1 and x2 > x1 after quantisation); drop such tiny boxes"
                )
        return [(box.x1, box.y1), (box.x2, box.y2)]

    def _checked_polygon(self, polygon: Polygon, image: ImageInfo) -> Sequence[tuple[float, float]]:
        check_polygon_in_image(polygon, image)
        return polygon.points

    def _format(self, kind: Kind, shapes: Sequence[Box] | Sequence[Polygon], image: ImageInfo) -> str:
        if not shapes:
            raise ValueError(f"no {'boxes' if kind == 'box' else 'polygons'} to write")
        check = self._checked_box if kind == "box" else self._checked_polygon
        objects = [self._encoded(shape.label, check(shape, image), image) for shape in shapes]  # type: ignore[arg-type]
        return self.write_objects(kind, objects)

    def format_boxes(self, boxes: Sequence[Box], image: ImageInfo) -> str:
        return self._format("box", boxes, image)

    def format_polygons(self, polygons: Sequence[Polygon], image: ImageInfo) -> str:
        return self._format("polygon", polygons, image)

    # -- reading -----------------------------------------------------------------------------------
    def _points(self, kind: Kind, text: str, image: ImageInfo) -> list[tuple[str | None, list[tuple[float, float]]]] | str:
        objects = self.read_objects(kind, text)
        if isinstance(objects, str):
            return objects
        out = []
        for label, numbers in objects:
            if len(numbers) % 2:
                return f"odd number of {self.number_word} in {numbers[:8]!r}"
            points = []
            for first, second in zip(numbers[::2], numbers[1::2]):
                point = self.decode_point(first, second, image)
                if isinstance(point, str):
                    return point
                points.append(point)
            out.append((label, points))
        return out

    def parse_boxes(self, text: str, image: ImageInfo) -> Parsed[list[Box]]:
        objects = self._points("box", text, image)
        if isinstance(objects, str):
            return Parsed.failure(objects)
        boxes = []
        for label, points in objects:
            if len(points) != 2:
                return Parsed.failure(f"a box has 4 {self.number_word}, got {2 * len(points)}")
            (x1, y1), (x2, y2) = points
            if self.box_needs_area and not (y2 > y1 and x2 > x1):
                return Parsed.failure(f"invalid box: {self.family} needs y2 > y1 and x2 > x1, got {(x1, y1, x2, y2)}")
            boxes.append(Box(x1, y1, x2, y2, label=label))
        return Parsed.success(boxes)

    def parse_polygons(self, text: str, image: ImageInfo) -> Parsed[list[Polygon]]:
        objects = self._points("polygon", text, image)
        if isinstance(objects, str):
            return Parsed.failure(objects)
        polygons = []
        for label, points in objects:
            if len(points) < 3:
                return Parsed.failure(f"a polygon needs at least 3 points, got {len(points)}")
            polygons.append(Polygon(tuple(points), label=label))
        return Parsed.success(polygons)


class SeparatedObjectsCodec(ObjectListCodec):
    """Objects written one after another (Qwen2-VL, PaliGemma, the bracket lists): one regex reads one
    object, a separator regex sits between objects, ``joiner`` is the separator this family writes."""

    #: regex between two objects when reading, and the text between two objects when writing
    separator: str = r"\s*"
    joiner: str = ""
    #: one object per kind: its regex, and how it looks (for error messages)
    item_regex: dict[str, re.Pattern[str]] = {}
    item_syntax: dict[str, str] = {}

    @abstractmethod
    def write_object(self, kind: Kind, label: str | None, numbers: list[float]) -> str:
        """One object with its numbers already encoded."""

    @abstractmethod
    def read_item(self, kind: Kind, match: re.Match[str]) -> WrittenObject | str:
        """The label and numbers of one ``item_regex`` match, or why it is malformed."""

    def write_objects(self, kind: Kind, objects: list[WrittenObject]) -> str:
        return self.joiner.join(self.write_object(kind, label, numbers) for label, numbers in objects)

    def read_objects(self, kind: Kind, text: str) -> list[WrittenObject] | str:
        items = scan_items(text, self.item_regex[kind], self.separator, self.item_syntax[kind])
        if isinstance(items, str):
            return items
        objects = []
        for item in items:
            read = self.read_item(kind, item)
            if isinstance(read, str):
                return read
            objects.append(read)
        return objects
