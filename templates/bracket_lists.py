"""Plain-text list syntax shared by LLaVA-1.5 and Llama: ``label: [x1, y1, x2, y2]``, one object per line.

A box is 4 numbers; a polygon is 2n numbers (n >= 3 points, x before y). The two families
differ only in the coordinate space (``coordinates.py``) and how many decimals they write.

>>> from metricsft.templates import get_codec
>>> get_codec("llama").read_objects("box", "dog: [1, 2, 3, 4]\\n[5, 6, 7, 8]")
[('dog', [1.0, 2.0, 3.0, 4.0]), (None, [5.0, 6.0, 7.0, 8.0])]
"""

from __future__ import annotations

import re

from .base import NUMBER_RE, format_number
from .object_lists import Kind, SeparatedObjectsCodec, WrittenObject

_N = rf"\s*({NUMBER_RE})\s*"
_ITEM = re.compile(rf"(?:([^\[\]:\n]+?)\s*:\s*)?\[\s*({NUMBER_RE}(?:\s*,\s*{NUMBER_RE})*)\s*\]")
# one object inside prose; bounded label length keeps the search linear on runaway generations
_SPAN = re.compile(rf"(?:[^\[\]:\n]{{1,80}}?\s*:\s*)?\[{_N}(?:,{_N})*\]")


class BracketListCodec(SeparatedObjectsCodec):
    """Objects as ``label: [numbers]`` lines; subclasses choose ``space`` and ``decimals``."""

    label_forbidden = ":[];"
    #: digits after the decimal point; None writes integers
    decimals: int | None = None
    object_span = _SPAN
    separator = r"[ \t]*(?:\n|;)\s*"
    joiner = "\n"
    item_regex = {"box": _ITEM, "polygon": _ITEM}
    item_syntax = {"box": "[x1, y1, x2, y2]", "polygon": "[x1, y1, x2, y2, x3, y3, ...]"}

    def _write(self, value: float) -> str:
        return format_number(int(value)) if self.decimals is None else f"{value:.{self.decimals}f}"

    def write_object(self, kind: Kind, label: str | None, numbers: list[float]) -> str:
        body = "[" + ", ".join(self._write(v) for v in numbers) + "]"
        return body if label is None else f"{label}: {body}"

    def read_item(self, kind: Kind, match: re.Match[str]) -> WrittenObject:
        return match.group(1), [float(v) for v in re.findall(NUMBER_RE, match.group(2))]
