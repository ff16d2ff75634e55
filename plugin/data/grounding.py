"""One referring expression -> one grounding row (shared by both RefCOCO layouts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricsft.templates import Box, Codec
from metricsft.templates.rows import BoxTruth, image_meta

from .common import ImageOptions, Invalid, image_info, make_row


@dataclass
class RefCOCOOptions(ImageOptions):
    """Options of both RefCOCO layouts."""

    allow_pickle: bool = field(default=False, metadata={"help": "read the official refs(*).p (restricted unpickler)"})
    layout: str = field(default="auto", metadata={"help": "xywh, xyxy, official or auto (detect)"})


def grounding_row(
    *, codec: Codec, options: RefCOCOOptions, where: str, row_id: str, split: str, phrase: str,
    box_xyxy: list[float], image_path: Path, declared_size: tuple[int, int] | None,
) -> dict[str, Any] | Invalid:
    """Check one expression (image exists, size, box inside) and build its row."""
    if not phrase:
        return Invalid(where, "malformed row", "empty referring expression")
    if not image_path.is_file():
        return Invalid(where, "missing image", f"{image_path} does not exist (set --images to the image folder)")
    info = image_info(image_path, options, codec)
    if declared_size is not None and declared_size != (info.width, info.height):
        return Invalid(where, "image size mismatch", f"record says {declared_size[0]}x{declared_size[1]} but {image_path} is {info.width}x{info.height}")
    box = Box(*box_xyxy, label=codec.clean_label(phrase) if codec.grounding_label else None)
    try:
        answer = codec.format_boxes([box], info)
    except ValueError as err:
        reason = "box outside image" if "outside" in str(err) else "box not writable"
        return Invalid(where, reason, f"{err} (image {image_path})")
    return make_row(
        row_id=row_id, codec=codec, prompt=codec.prompt("refcoco", phrase=phrase), answer=answer,
        task="refcoco", split=split, images=[image_path],
        meta=image_meta(info), truth=BoxTruth(tuple(float(v) for v in box_xyxy), phrase),
    )
