"""Qwen2.5-VL: a JSON list ``[{"bbox_2d": [x1, y1, x2, y2], "label": "..."}]`` in a ```json fence.

Coordinates are integer pixels of the image AFTER ``qwen_vl_utils.smart_resize`` (multiples of
28 between min_pixels and max_pixels), so ``ImageInfo`` must carry the min/max pixels that
inference uses (rows record them in ``meta``). Polygons use the key ``"polygon"`` with a list
of ``[x, y]`` points (our choice: Qwen2.5-VL has no published polygon key).

>>> from metricsft.templates import get_codec, Box, ImageInfo
>>> get_codec("qwen2_5_vl").format_boxes([Box(0, 0, 100, 50, label="cat")], ImageInfo(280, 280))
'```json\\n[{"bbox_2d": [0, 0, 100, 50], "label": "cat"}]\\n```'
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from .base import Box, Codec, ImageInfo, Parsed, Polygon, check_box_in_image, check_label, check_polygon_in_image
from .coordinates import ResizedPixels

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?\s*```\s*$", re.S)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Qwen25VLCodec(Codec):
    family = "qwen2_5_vl"
    # LLaMA-Factory serves Qwen2.5-VL with the same chat template as Qwen2-VL.
    llamafactory_template = "qwen2_vl"
    space = ResizedPixels()
    uses_resize_bounds = True

    def resized_size(self, image: ImageInfo) -> tuple[int, int]:
        """(width, height) of the image Qwen2.5-VL actually sees."""
        return self.space.resized(image)

    def _dump(self, objects: list[dict[str, Any]]) -> str:
        return "```json\n" + json.dumps(objects, ensure_ascii=False) + "\n```"

    def _point(self, x: float, y: float, image: ImageInfo) -> list[int]:
        return [int(v) for v in self.space.encode(x, y, image)]

    def format_boxes(self, boxes: Sequence[Box], image: ImageInfo) -> str:
        if not boxes:
            raise ValueError("no boxes to write")
        objects = []
        for box in boxes:
            check_box_in_image(box, image)
            check_label(box.label, "", self.family)
            entry: dict[str, Any] = {"bbox_2d": self._point(box.x1, box.y1, image) + self._point(box.x2, box.y2, image)}
            if box.label is not None:
                entry["label"] = box.label
            objects.append(entry)
        return self._dump(objects)

    def _load(self, text: str, key: str) -> list[dict[str, Any]] | str:
        fenced = _FENCE.match(text)
        body = fenced.group(1) if fenced else text
        try:
            data = json.loads(body)
        except json.JSONDecodeError as err:
            return f"not valid JSON ({err.msg} at character {err.pos}): {body[:60]!r}"
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not data:
            return f"expected a non-empty JSON list of objects with {key!r}, got {body[:60]!r}"
        for entry in data:
            if not isinstance(entry, dict) or key not in entry:
                return f"every object needs a {key!r} key, got {json.dumps(entry)[:60]}"
            label = entry.get("label")
            if label is not None and not isinstance(label, str):
                return f"'label' must be a string, got {label!r}"
        return data

    def _decode(self, a: Any, b: Any, image: ImageInfo) -> tuple[float, float] | str:
        if not (_is_number(a) and _is_number(b)):
            return f"coordinates must be numbers, got {[a, b]!r}"
        reason = self.space.check(a, b, image)
        return reason if reason else self.space.decode(a, b, image)

    def parse_boxes(self, text: str, image: ImageInfo) -> Parsed[list[Box]]:
        data = self._load(text, "bbox_2d")
        if isinstance(data, str):
            return Parsed.failure(data)
        boxes = []
        for entry in data:
            coords = entry["bbox_2d"]
            if not isinstance(coords, list) or len(coords) != 4:
                return Parsed.failure(f"'bbox_2d' must be [x1, y1, x2, y2], got {coords!r}")
            p1, p2 = self._decode(coords[0], coords[1], image), self._decode(coords[2], coords[3], image)
            for p in (p1, p2):
                if isinstance(p, str):
                    return Parsed.failure(p)
            boxes.append(Box(p1[0], p1[1], p2[0], p2[1], label=entry.get("label")))  # type: ignore[index]
        return Parsed.success(boxes)

    def format_polygons(self, polygons: Sequence[Polygon], image: ImageInfo) -> str:
        if not polygons:
            raise ValueError("no polygons to write")
        objects = []
        for polygon in polygons:
            check_polygon_in_image(polygon, image)
            check_label(polygon.label, "", self.family)
            entry: dict[str, Any] = {"polygon": [self._point(x, y, image) for x, y in polygon.points]}
            if polygon.label is not None:
                entry["label"] = polygon.label
            objects.append(entry)
        return self._dump(objects)

    def parse_polygons(self, text: str, image: ImageInfo) -> Parsed[list[Polygon]]:
        data = self._load(text, "polygon")
        if isinstance(data, str):
            return Parsed.failure(data)
        polygons = []
        for entry in data:
            raw = entry["polygon"]
            if not isinstance(raw, list) or len(raw) < 3 or not all(isinstance(p, list) and len(p) == 2 for p in raw):
                return Parsed.failure(f"'polygon' must be a list of at least 3 [x, y] points, got {str(raw)[:60]}")
            points = []
            for a, b in raw:
                p = self._decode(a, b, image)
                if isinstance(p, str):
                    return Parsed.failure(p)
                points.append(p)
            polygons.append(Polygon(tuple(points), label=entry.get("label")))
        return Parsed.success(polygons)
