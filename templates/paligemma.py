"""PaliGemma: ``<locY1><locX1><locY2><locX2> label``, objects separated by ``" ; "``.

Each ``<locNNNN>`` is a bin 0..1023 of the normalised coordinate (``LocBins``), in y-x order.
A box is valid only when y2 > y1 and x2 > x1 (after binning). Polygons are our extension in
the same spirit: 2n loc tokens, y before x for every point, then the label.

>>> from metricsft.templates import get_codec, Box, ImageInfo
>>> get_codec("paligemma").format_boxes([Box(0, 0, 50, 100, label="cat")], ImageInfo(100, 200))
'<loc0000><loc0000><loc0512><loc0512> cat'
"""

from __future__ import annotations

import re
from typing import Sequence

from .base import Box, Codec, ImageInfo, Parsed, Polygon, check_box_in_image, check_label, check_polygon_in_image, scan_items
from .coordinates import LocBins

_ITEM = re.compile(r"((?:<loc\d{4}>)+)(?:[ \t]*([^;<>\n]*[^;<>\s]))?")
_SEPARATOR = r"\s*;\s*"


class PaliGemmaCodec(Codec):
    family = "paligemma"
    llamafactory_template = "paligemma"
    space = LocBins()
    label_forbidden = ";<>"

    def _item(self, label: str | None, points: Sequence[tuple[float, float]], image: ImageInfo) -> str:
        check_label(label, self.label_forbidden, self.family)
        tokens = []
        for x, y in points:
            a, b = self.space.encode(x, y, image)
            tokens.append(f"<loc{int(b):04d}><loc{int(a):04d}>")  # y first
        return "".join(tokens) + ("" if label is None else f" {label}")

    def format_boxes(self, boxes: Sequence[Box], image: ImageInfo) -> str:
        if not boxes:
            raise ValueError("no boxes to write")
        items = []
        for box in boxes:
            check_box_in_image(box, image)
            (a1, b1), (a2, b2) = self.space.encode(box.x1, box.y1, image), self.space.encode(box.x2, box.y2, image)
            if not (a2 > a1 and b2 > b1):
                raise ValueError(
                    f"box {box.coords()} collapses to an empty box in PaliGemma's 1024 bins "
                    f"(needs y2 > y1 and x2 > x1 after binning); drop such tiny boxes"
                )
            items.append(self._item(box.label, [(box.x1, box.y1), (box.x2, box.y2)], image))
        return " ; ".join(items)

    def _read(self, text: str, image: ImageInfo, what: str) -> list[tuple[str | None, list[tuple[float, float]]]] | str:
        items = scan_items(text, _ITEM, _SEPARATOR, what)
        if isinstance(items, str):
            return items
        objects = []
        for item in items:
            bins = [int(v) for v in re.findall(r"<loc(\d{4})>", item.group(1))]
            if len(bins) % 2:
                return f"odd number of <loc> tokens in {item.group(0)[:60]!r}"
            points = []
            for b, a in zip(bins[::2], bins[1::2]):  # tokens come y, x
                reason = self.space.check(a, b, image)
                if reason:
                    return reason
                points.append(self.space.decode(a, b, image))
            objects.append((item.group(2), points))
        return objects

    def parse_boxes(self, text: str, image: ImageInfo) -> Parsed[list[Box]]:
        objects = self._read(text, image, "<locY1><locX1><locY2><locX2> label")
        if isinstance(objects, str):
            return Parsed.failure(objects)
        boxes = []
        for label, points in objects:
            if len(points) != 2:
                return Parsed.failure(f"a box has 4 <loc> tokens, got {2 * len(points)}")
            (x1, y1), (x2, y2) = points
            if not (y2 > y1 and x2 > x1):
                return Parsed.failure(f"invalid box: PaliGemma needs y2 > y1 and x2 > x1, got {(x1, y1, x2, y2)}")
            boxes.append(Box(x1, y1, x2, y2, label=label))
        return Parsed.success(boxes)

    def format_polygons(self, polygons: Sequence[Polygon], image: ImageInfo) -> str:
        if not polygons:
            raise ValueError("no polygons to write")
        items = []
        for polygon in polygons:
            check_polygon_in_image(polygon, image)
            items.append(self._item(polygon.label, polygon.points, image))
        return " ; ".join(items)

    def parse_polygons(self, text: str, image: ImageInfo) -> Parsed[list[Polygon]]:
        objects = self._read(text, image, "<locY><locX>... label")
        if isinstance(objects, str):
            return Parsed.failure(objects)
        polygons = []
        for label, points in objects:
            if len(points) < 3:
                return Parsed.failure(f"a polygon needs at least 3 points (6 <loc> tokens), got {2 * len(points)}")
            polygons.append(Polygon(tuple(points), label=label))
        return Parsed.success(polygons)
