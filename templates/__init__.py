"""Per-family codecs: write and read boxes, polygons, times, scores and answers.

>>> from metricsft.templates import get_codec, FAMILIES
>>> FAMILIES
('qwen2_vl', 'qwen2_5_vl', 'llava', 'paligemma', 'llama')
>>> get_codec("qwen2_vl").format_time(2, 55)
'2:55'
"""

from __future__ import annotations

import importlib

from .base import Box, Codec, ImageInfo, Parsed, Polygon

FAMILIES: tuple[str, ...] = ("qwen2_vl", "qwen2_5_vl", "llava", "paligemma", "llama")

# family -> "module:class"; imported lazily so that one family's optional dependency
# (qwen_vl_utils for Qwen2.5-VL) is only needed when that family is used.
_CODECS: dict[str, str] = {
    "qwen2_vl": "qwen2_vl:Qwen2VLCodec",
    "qwen2_5_vl": "qwen2_5_vl:Qwen25VLCodec",
    "llava": "llava:LlavaCodec",
    "paligemma": "paligemma:PaliGemmaCodec",
    "llama": "llama:LlamaCodec",
}
_cache: dict[str, Codec] = {}


def get_codec(family: str) -> Codec:
    """The codec of ``family`` (one of ``FAMILIES``).

    >>> get_codec("llava").family
    'llava'
    """
    if family not in _CODECS:
        raise ValueError(f"unknown family {family!r}; choose one of: {', '.join(FAMILIES)}")
    if family not in _cache:
        module_name, class_name = _CODECS[family].split(":")
        module = importlib.import_module(f"{__name__}.{module_name}")
        _cache[family] = getattr(module, class_name)()
    return _cache[family]


__all__ = ["FAMILIES", "Box", "Codec", "ImageInfo", "Parsed", "Polygon", "get_codec"]
