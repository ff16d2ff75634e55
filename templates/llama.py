"""Llama (text only): plain numbers; boxes as ``[x1, y1, x2, y2]`` integer pixels of the original image.

Llama-3's tokenizer groups 1-3 digits into one token, so integers stay short sequences.

>>> from metricsft.templates import get_codec, Box, ImageInfo
>>> get_codec("llama").format_boxes([Box(10.4, 20.5, 30, 40)], ImageInfo(640, 480))
'[10, 21, 30, 40]'
"""

from __future__ import annotations

from .bracket_lists import BracketListCodec
from .coordinates import Pixels


class LlamaCodec(BracketListCodec):
    family = "llama"
    display_name = "Llama-3"
    example_model = "meta-llama/Meta-Llama-3-8B-Instruct"
    geometry_syntax = "[x1, y1, x2, y2] integer pixels of the original image"
    llamafactory_template = "llama3"
    has_images = False
    space = Pixels()
    decimals = None
