"""RefCOCO / RefCOCO+ / RefCOCOg referring expressions -> one grounding row per expression.

Two layouts are read:

* the official one (``refer`` toolkit): a folder with ``refs(unc).p`` (or ``refs(umd).p`` /
  ``refs(google).p``) and ``instances.json``, images in ``--images`` (COCO train2014). The
  pickle is only opened with ``--allow-pickle`` (see ``safe_pickle``).
* records in JSON / JSONL / Parquet with a phrase, a box and an image: ``bbox`` is COCO
  ``[x, y, w, h]``; ``solution`` / ``bbox_xyxy`` are ``[x1, y1, x2, y2]``; the size comes from
  ``width``/``height`` (checked against the image file) or from the image itself.

    metricsft data convert refcoco --src refcoco/ --images coco/train2014 --allow-pickle --split val --format qwen2_vl --out data
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

from metricsft.templates import Codec

from .common import ConversionError, Converter, Invalid, TrainingExample, require_image_family
from .grounding import RefCOCOOptions, grounding_row
from .readers import iter_records
from .refcoco_official import convert_official, find_refs_pickle

PHRASE_KEYS = ("phrase", "sentence", "sentences", "expression", "expressions", "referring_expression", "normal_caption", "caption")
XYWH_KEYS = ("bbox",)
XYXY_KEYS = ("bbox_xyxy", "solution")
IMAGE_KEYS = ("image", "image_path", "img_path", "file_name")
ID_KEYS = ("id", "ref_id", "ann_id", "question_id")


def _numbers(value: Any, count: int) -> list[float] | None:
    if isinstance(value, (list, tuple)) and len(value) == count and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value]
    return None


def _record_box(record: dict[str, Any], layout: str) -> list[float] | str:
    """[x1, y1, x2, y2] from a record, or why not."""
    keys = XYWH_KEYS if layout == "xywh" else XYXY_KEYS if layout == "xyxy" else XYWH_KEYS + XYXY_KEYS
    for key in keys:
        if key in record:
            if record[key] is None:
                return f"'{key}' is null (no target box)"
            numbers = _numbers(record[key], 4)
            if numbers is None:
                return f"'{key}' must be 4 numbers, got {str(record[key])[:60]}"
            if key in XYWH_KEYS and layout != "xyxy":
                x, y, w, h = numbers
                return [x, y, x + w, y + h]
            return numbers
    return f"no box field (one of {', '.join(keys)})"


def _phrases(record: dict[str, Any]) -> list[str] | None:
    for key in PHRASE_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return [value.strip()]
        if isinstance(value, list) and value:
            texts = [v.get("sent") or v.get("raw") if isinstance(v, dict) else v for v in value]
            if all(isinstance(t, str) and t.strip() for t in texts):
                return [t.strip() for t in texts]
    return None


def _image_path(record: dict[str, Any], image_root: Path, out_dir: Path) -> Path | None:
    for key in IMAGE_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value:
            return image_root / value
        if isinstance(value, dict) and value.get("bytes"):
            # Parquet exports embed the image; store it once under OUT/images, named by content.
            data = value["bytes"]
            suffix = Path(value.get("path") or "x.jpg").suffix or ".jpg"
            target = out_dir / "images" / (hashlib.sha1(data).hexdigest()[:16] + suffix)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            return target
        if isinstance(value, dict) and value.get("path"):
            return image_root / value["path"]
    return None


def _declared_size(record: dict[str, Any]) -> tuple[int, int] | None:
    for wkey, hkey in (("width", "height"), ("image_width", "image_height")):
        if isinstance(record.get(wkey), int) and isinstance(record.get(hkey), int):
            return (record[wkey], record[hkey])
    size = record.get("image_size")
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) for v in size):
        return (size[0], size[1])
    return None


def _convert_records(src: Path, options: RefCOCOOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    if options.layout not in {"auto", "xywh", "xyxy"}:
        raise ConversionError(f"refcoco --layout must be auto, xywh or xyxy (or official), got {options.layout!r}")
    image_root = Path(options.images) if options.images else (src if src.is_dir() else src.parent)
    for index, (where, record) in enumerate(iter_records(src)):
        if isinstance(record, Invalid):
            yield record
            continue
        split = str(record.get("split") or options.split or src.stem)
        if options.split and record.get("split") and record["split"] != options.split:
            continue
        phrases = _phrases(record)
        if phrases is None:
            yield Invalid(where, "malformed row", f"no referring expression (one of {', '.join(PHRASE_KEYS)})")
            continue
        box = _record_box(record, options.layout)
        if isinstance(box, str):
            yield Invalid(where, "no box" if "null" in box or "no box" in box else "malformed row", box)
            continue
        image_path = _image_path(record, image_root, Path(options.out))
        if image_path is None:
            yield Invalid(where, "malformed row", f"no image field (one of {', '.join(IMAGE_KEYS)})")
            continue
        record_id = next((str(record[k]) for k in ID_KEYS if record.get(k) is not None), f"#{index}")
        for k, phrase in enumerate(phrases):
            yield grounding_row(
                codec=codec, options=options, where=where, row_id=f"refcoco/{split}/{record_id}-{k}", split=split,
                phrase=phrase, box_xyxy=box, image_path=image_path, declared_size=_declared_size(record),
            )


def convert(options: RefCOCOOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    require_image_family(codec, "refcoco")
    src = Path(options.src)
    refs = find_refs_pickle(src)
    if refs is not None or options.layout == "official":
        if refs is None:
            raise ConversionError(f"{src}: no refs(*).p file found for --layout official")
        yield from convert_official(refs, options, codec)
    else:
        yield from _convert_records(src, options, codec)


CONVERTER = Converter(RefCOCOOptions, convert, TrainingExample("RefCOCO referring-expression grounding",
                      "--src refcoco/ --images coco/train2014 --allow-pickle --split train", None))
