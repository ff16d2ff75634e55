"""Qwen2-VL: ``<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``.

Integers on a 0..1000 grid relative to the original image (see ``Grid1000``). Text polygons use
Qwen2-VL's quad tokens: ``<|quad_start|>(x1,y1),(x2,y2),(x3,y3),(x4,y4)<|quad_end|>``.
Several objects are written back to back, as the model does. The markers are special tokens:
decode generations with ``skip_special_tokens=False`` before parsing.

>>> from metricsft.templates import get_codec, Box, ImageInfo
>>> get_codec("qwen2_vl").format_boxes([Box(0, 0, 213.5, 320, label="cat")], ImageInfo(427, 640))
'<|object_ref_start|>cat<|object_ref_end|><|box_start|>(0,0),(500,500)<|box_end|>'
"""

from __future__ import annotations

import re
from typing import Sequence

from .base import Box, Codec, ImageInfo, Parsed, Polygon, check_box_in_image, check_label, check_polygon_in_image, scan_items
from .coordinates import Grid1000

REF_START, REF_END = "<|object_ref_start|>", "<|object_ref_end|>"
BOX_START, BOX_END = "<|box_start|>", "<|box_end|>"
QUAD_START, QUAD_END = "<|quad_start|>", "<|quad_end|>"

_POINT = r"\(\s*(\d+)\s*,\s*(\d+)\s*\)"
_REF = rf"(?:{re.escape(REF_START)}(.*?){re.escape(REF_END)}\s*)?"
_BOX_ITEM = re.compile(rf"{_REF}{re.escape(BOX_START)}\s*{_POINT}\s*,\s*{_POINT}\s*{re.escape(BOX_END)}", re.S)
_QUAD_ITEM = re.compile(rf"{_REF}{re.escape(QUAD_START)}(.*?){re.escape(QUAD_END)}", re.S)
_POINTS_LIST = re.compile(rf"^\s*{_POINT}(?:\s*,\s*{_POINT})*\s*$")
_SEPARATOR = r"[\s,;]*"


class Qwen2VLCodec(Codec):
    family = "qwen2_vl"
    llamafactory_template = "qwen2_vl"
    space = Grid1000()
    label_forbidden = "<>|"

    def _ref(self, label: str | None) -> str:
        check_label(label, self.label_forbidden, self.family)
        return "" if label is None else f"{REF_START}{label}{REF_END}"

    def _point(self, x: float, y: float, image: ImageInfo) -> str:
        a, b = self.space.encode(x, y, image)
        return f"({a},{b})"

    def format_boxes(self, boxes: Sequence[Box], image: ImageInfo) -> str:
        if not boxes:
            raise ValueError("no boxes to write")
        out = []
        for box in boxes:
            check_box_in_image(box, image)
            corners = self._point(box.x1, box.y1, image) + "," + self._point(box.x2, box.y2, image)
            out.append(f"{self._ref(box.label)}{BOX_START}{corners}{BOX_END}")
        return "".join(out)

    def _decode(self, a: int, b: int, image: ImageInfo) -> tuple[float, float] | str:
        reason = self.space.check(a, b, image)
        return reason if reason else self.space.decode(a, b, image)

    def parse_boxes(self, text: str, image: ImageInfo) -> Parsed[list[Box]]:
        items = scan_items(text, _BOX_ITEM, _SEPARATOR, "<|box_start|>(x1,y1),(x2,y2)<|box_end|>")
        if isinstance(items, str):
            return Parsed.failure(items)
        boxes = []
        for item in items:
            p1 = self._decode(int(item.group(2)), int(item.group(3)), image)
            p2 = self._decode(int(item.group(4)), int(item.group(5)), image)
            for p in (p1, p2):
                if isinstance(p, str):
                    return Parsed.failure(p)
            boxes.append(Box(p1[0], p1[1], p2[0], p2[1], label=item.group(1)))  # type: ignore[index]
        return Parsed.success(boxes)

    def format_polygons(self, polygons: Sequence[Polygon], image: ImageInfo) -> str:
        if not polygons:
            raise ValueError("no polygons to write")
        out = []
        for polygon in polygons:
            check_polygon_in_image(polygon, image)
            points = ",".join(self._point(x, y, image) for x, y in polygon.points)
            out.append(f"{self._ref(polygon.label)}{QUAD_START}{points}{QUAD_END}")
        return "".join(out)

    def parse_polygons(self, text: str, image: ImageInfo) -> Parsed[list[Polygon]]:
        items = scan_items(text, _QUAD_ITEM, _SEPARATOR, "<|quad_start|>(x,y),...<|quad_end|>")
        if isinstance(items, str):
            return Parsed.failure(items)
        polygons = []
        for item in items:
            body = item.group(2)
            if not _POINTS_LIST.match(body):
                return Parsed.failure(f"expected (x,y),(x,y),... inside the quad, got {body[:60]!r}")
            points = []
            for a, b in re.findall(_POINT, body):
                p = self._decode(int(a), int(b), image)
                if isinstance(p, str):
                    return Parsed.failure(p)
                points.append(p)
            if len(points) < 3:
                return Parsed.failure(f"a polygon needs at least 3 points, got {len(points)}")
            polygons.append(Polygon(tuple(points), label=item.group(1)))
        return Parsed.success(polygons)
