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

from .coordinates import LocBins
from .object_lists import Kind, SeparatedObjectsCodec, WrittenObject

_ITEM = re.compile(r"((?:<loc\d{4}>)+)(?:[ \t]*([^;<>\n]*[^;<>\s]))?")


class PaliGemmaCodec(SeparatedObjectsCodec):
    family = "paligemma"
    display_name = "PaliGemma"
    example_model = "google/paligemma-3b-pt-224"
    geometry_syntax = "<locY1><locX1><locY2><locX2> label (bins 0..1023), objects joined by ' ; '"
    llamafactory_template = "paligemma"
    space = LocBins()
    yx_order = True
    number_word = "<loc> tokens"
    box_needs_area = True
    label_forbidden = ";<>"
    object_span = _ITEM
    separator = r"\s*;\s*"
    joiner = " ; "
    item_regex = {"box": _ITEM, "polygon": _ITEM}
    item_syntax = {"box": "<locY1><locX1><locY2><locX2> label", "polygon": "<locY><locX>... label"}

    def write_object(self, kind: Kind, label: str | None, numbers: list[float]) -> str:
        return "".join(f"<loc{int(v):04d}>" for v in numbers) + ("" if label is None else f" {label}")

    def read_item(self, kind: Kind, match: re.Match[str]) -> WrittenObject:
        return match.group(2), [float(v) for v in re.findall(r"<loc(\d{4})>", match.group(1))]
