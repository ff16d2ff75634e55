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
from typing import Any

from .base import ImageInfo
from .coordinates import ResizedPixels
from .object_lists import Kind, ObjectListCodec, WrittenObject

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?\s*```\s*$", re.S)
#: Qwen2.5-VL's image processor defaults; rows record the bounds used, and inference must use the same
DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS = 3136, 12845056
#: the JSON key of one object's coordinates
KEYS: dict[str, str] = {"box": "bbox_2d", "polygon": "polygon"}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Qwen25VLCodec(ObjectListCodec):
    family = "qwen2_5_vl"
    display_name = "Qwen2.5-VL"
    example_model = "Qwen/Qwen2.5-VL-7B-Instruct"
    geometry_syntax = 'JSON [{"bbox_2d": [x1,y1,x2,y2], "label": ...}] (polygons: "polygon": [[x,y], ...]) in pixels of the smart_resize\'d image'
    # LLaMA-Factory serves Qwen2.5-VL with the same chat template as Qwen2-VL.
    llamafactory_template = "qwen2_vl"
    space = ResizedPixels()
    uses_resize_bounds = True
    # inside prose every object is one flat JSON object: {"bbox_2d": [...], "label": "..."}
    object_span = re.compile(r"\{[^{}]{0,4000}\}")

    def resized_size(self, image: ImageInfo) -> tuple[int, int]:
        """(width, height) of the image Qwen2.5-VL actually sees."""
        return self.space.resized(image)

    def write_objects(self, kind: Kind, objects: list[WrittenObject]) -> str:
        entries = []
        for label, numbers in objects:
            ints = [int(v) for v in numbers]
            coords: list[Any] = ints if kind == "box" else [ints[i : i + 2] for i in range(0, len(ints), 2)]
            entry: dict[str, Any] = {KEYS[kind]: coords}
            if label is not None:
                entry["label"] = label
            entries.append(entry)
        return "```json\n" + json.dumps(entries, ensure_ascii=False) + "\n```"

    def read_objects(self, kind: Kind, text: str) -> list[WrittenObject] | str:
        key = KEYS[kind]
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
        objects: list[WrittenObject] = []
        for entry in data:
            if not isinstance(entry, dict) or key not in entry:
                return f"every object needs a {key!r} key, got {json.dumps(entry)[:60]}"
            label = entry.get("label")
            if label is not None and not isinstance(label, str):
                return f"'label' must be a string, got {label!r}"
            raw = entry[key]
            if kind == "box":
                if not isinstance(raw, list) or len(raw) != 4:
                    return f"'bbox_2d' must be [x1, y1, x2, y2], got {raw!r}"
                numbers = raw
            else:
                if not isinstance(raw, list) or len(raw) < 3 or not all(isinstance(p, list) and len(p) == 2 for p in raw):
                    return f"'polygon' must be a list of at least 3 [x, y] points, got {str(raw)[:60]}"
                numbers = [v for point in raw for v in point]
            if not all(_is_number(v) for v in numbers):
                return f"coordinates must be numbers, got {numbers!r}"
            objects.append((label, [float(v) for v in numbers]))
        return objects
