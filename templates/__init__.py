"""Per-family codecs: write and read boxes, polygons, times, scores and answers.

Adding a family is one codec module plus one line in ``CODECS``; ``FAMILIES`` follows from it.

>>> from metricsft.templates import get_codec, FAMILIES
>>> FAMILIES
('qwen2_vl', 'qwen2_5_vl', 'llava', 'paligemma', 'llama')
>>> get_codec("qwen2_vl").format_time(2, 55)
'2:55'
"""

from __future__ import annotations

from metricsft.registry import Registry

from .base import Box, Codec, ImageInfo, Parsed, Polygon

# family -> codec class, imported lazily so that one family's optional dependency
# (qwen_vl_utils for Qwen2.5-VL) is only needed when that family is used.
CODECS: Registry[type[Codec]] = Registry("family", {
    "qwen2_vl": f"{__name__}.qwen2_vl:Qwen2VLCodec",
    "qwen2_5_vl": f"{__name__}.qwen2_5_vl:Qwen25VLCodec",
    "llava": f"{__name__}.llava:LlavaCodec",
    "paligemma": f"{__name__}.paligemma:PaliGemmaCodec",
    "llama": f"{__name__}.llama:LlamaCodec",
})
FAMILIES: tuple[str, ...] = CODECS.names
_cache: dict[str, Codec] = {}


def get_codec(family: str) -> Codec:
    """The codec of ``family`` (one of ``FAMILIES``).

    >>> get_codec("llava").family
    'llava'
    """
    if family not in _cache:
        _cache[family] = CODECS.load(family)()
    return _cache[family]


def image_families() -> tuple[str, ...]:
    """The families whose rows carry images (every one but the text-only ones).

    >>> image_families()
    ('qwen2_vl', 'qwen2_5_vl', 'llava', 'paligemma')
    """
    return tuple(f for f in FAMILIES if get_codec(f).has_images)


__all__ = ["CODECS", "FAMILIES", "Box", "Codec", "ImageInfo", "Parsed", "Polygon", "get_codec", "image_families"]
