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

from .coordinates import Grid1000
from .object_lists import Kind, SeparatedObjectsCodec, WrittenObject

REF_START, REF_END = "<|object_ref_start|>", "<|object_ref_end|>"
BOX_START, BOX_END = "<|box_start|>", "<|box_end|>"
QUAD_START, QUAD_END = "<|quad_start|>", "<|quad_end|>"

_POINT = r"\(\s*(\d+)\s*,\s*(\d+)\s*\)"
_REF = rf"(?:{re.escape(REF_START)}(.*?){re.escape(REF_END)}\s*)?"
_BOX_ITEM = re.compile(rf"{_REF}{re.escape(BOX_START)}\s*{_POINT}\s*,\s*{_POINT}\s*{re.escape(BOX_END)}", re.S)
_QUAD_ITEM = re.compile(rf"{_REF}{re.escape(QUAD_START)}(.*?){re.escape(QUAD_END)}", re.S)
_POINTS_LIST = re.compile(rf"^\s*{_POINT}(?:\s*,\s*{_POINT})*\s*$")
# one box / one quad inside prose (the reference is optional; bounded [^<] keeps the search linear)
_PROSE_REF = rf"(?:{re.escape(REF_START)}[^<]{{0,200}}{re.escape(REF_END)}\s*)?"
_BOX_SPAN = re.compile(rf"{_PROSE_REF}{re.escape(BOX_START)}.*?{re.escape(BOX_END)}", re.S)
_QUAD_SPAN = re.compile(rf"{_PROSE_REF}{re.escape(QUAD_START)}.*?{re.escape(QUAD_END)}", re.S)


class Qwen2VLCodec(SeparatedObjectsCodec):
    family = "qwen2_vl"
    display_name = "Qwen2-VL"
    example_model = "Qwen/Qwen2-VL-7B-Instruct"
    geometry_syntax = 'boxes <|box_start|>(x1,y1),(x2,y2)<|box_end|> on a 0-1000 grid; quads <|quad_start|>...<|quad_end|>'
    llamafactory_template = "qwen2_vl"
    space = Grid1000()
    label_forbidden = "<>|"
    separator = r"[\s,;]*"
    joiner = ""
    item_regex = {"box": _BOX_ITEM, "polygon": _QUAD_ITEM}
    item_syntax = {"box": "<|box_start|>(x1,y1),(x2,y2)<|box_end|>", "polygon": "<|quad_start|>(x,y),...<|quad_end|>"}

    def object_pattern(self, kind: str) -> re.Pattern[str]:
        return _BOX_SPAN if kind == "box" else _QUAD_SPAN

    def write_object(self, kind: Kind, label: str | None, numbers: list[float]) -> str:
        start, end = (BOX_START, BOX_END) if kind == "box" else (QUAD_START, QUAD_END)
        ref = "" if label is None else f"{REF_START}{label}{REF_END}"
        points = ",".join(f"({int(a)},{int(b)})" for a, b in zip(numbers[::2], numbers[1::2]))
        return f"{ref}{start}{points}{end}"

    def read_item(self, kind: Kind, match: re.Match[str]) -> WrittenObject | str:
        if kind == "box":
            return match.group(1), [float(v) for v in match.group(2, 3, 4, 5)]
        body = match.group(2)
        if not _POINTS_LIST.match(body):
            return f"expected (x,y),(x,y),... inside the quad, got {body[:60]!r}"
        return match.group(1), [float(v) for pair in re.findall(_POINT, body) for v in pair]
