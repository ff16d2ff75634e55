"""LLaVA-1.5: ``[x1, y1, x2, y2]`` floats in [0, 1] with 3 decimals on the image padded to a square.

LLaVA-1.5 pads every image to a centred square (S = max(W, H)) before encoding it, and its
grounding data is written relative to that square; the inverse is x = v * S - (S - W) / 2.
The HF / vLLM llava processors centre-crop by default: pad the image yourself at inference.

>>> from metricsft.templates import get_codec, Box, ImageInfo
>>> get_codec("llava").format_boxes([Box(0, 0, 100, 50, label="dog")], ImageInfo(100, 50))
'dog: [0.000, 0.250, 1.000, 0.750]'
"""

from __future__ import annotations

from .bracket_lists import BracketListCodec
from .coordinates import PaddedSquare


class LlavaCodec(BracketListCodec):
    family = "llava"
    display_name = "LLaVA-1.5"
    example_model = "llava-hf/llava-1.5-7b-hf"
    geometry_syntax = "[x1, y1, x2, y2] (polygons [x1, y1, ..., xn, yn]) in [0,1] (3 decimals) on the image padded to a square"
    llamafactory_template = "llava"
    space = PaddedSquare(decimals=3)
    decimals = 3
    grounding_label = False
