"""The official RefCOCO layout of the ``refer`` toolkit: ``refs(*).p`` + ``instances.json`` + COCO images.

Each ref carries ``ref_id``, ``ann_id``, ``image_id``, ``split`` and ``sentences``
(``sent`` = normalised text); the box is the COCO annotation's ``bbox`` ([x, y, w, h]) and
the image comes from ``instances.json``'s ``images`` (file name, width, height).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from metricsft.templates import Codec

from .common import ConversionError, Invalid
from .grounding import RefCOCOOptions, grounding_row
from .safe_pickle import load_containers


def find_refs_pickle(src: Path) -> Path | None:
    """``src`` if it is a refs pickle, or the single ``refs(*).p`` inside the folder ``src``."""
    if src.is_file():
        return src if src.suffix == ".p" else None
    if not src.is_dir():
        return None
    found = sorted(src.glob("refs(*).p"))
    if len(found) > 1:
        raise ConversionError(f"{src}: several refs pickles ({', '.join(p.name for p in found)}); pass one of them as --src")
    return found[0] if found else None


def _dataset_name(refs_path: Path) -> str:
    folder = refs_path.parent.name.lower()
    return folder if folder.startswith("refcoco") else "refcoco"


def convert_official(refs_path: Path, options: RefCOCOOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    if not options.allow_pickle:
        raise ConversionError(
            f"{refs_path} is a pickle; pickles can run code when loaded. Pass --allow-pickle to read it "
            "with a restricted unpickler that only builds plain containers"
        )
    instances_path = refs_path.parent / "instances.json"
    if not instances_path.is_file():
        raise ConversionError(f"{instances_path}: missing; the official layout needs instances.json next to {refs_path.name}")
    refs = load_containers(refs_path)
    if not isinstance(refs, list):
        raise ConversionError(f"{refs_path}: expected a list of refs, got {type(refs).__name__}")
    instances = json.loads(instances_path.read_text(encoding="utf-8"))
    try:
        images = {image["id"]: image for image in instances["images"]}
        annotations = {ann["id"]: ann for ann in instances["annotations"]}
    except (KeyError, TypeError) as err:
        raise ConversionError(f"{instances_path}: not a COCO instances file (missing {err})") from err
    image_root = Path(options.images) if options.images else refs_path.parent / "images"
    dataset = _dataset_name(refs_path)
    for index, ref in enumerate(refs):
        where = f"{refs_path}[ref {index}]"
        if not isinstance(ref, dict) or not {"ref_id", "ann_id", "image_id", "split", "sentences"} <= ref.keys():
            yield Invalid(where, "malformed row", "a ref needs ref_id, ann_id, image_id, split and sentences")
            continue
        if options.split and ref["split"] != options.split:
            continue
        annotation, image = annotations.get(ref["ann_id"]), images.get(ref["image_id"])
        if annotation is None or image is None:
            missing = f"annotation {ref['ann_id']}" if annotation is None else f"image {ref['image_id']}"
            yield Invalid(where, "malformed row", f"{missing} is not in {instances_path.name}")
            continue
        x, y, w, h = (float(v) for v in annotation["bbox"])
        for sentence in ref["sentences"]:
            phrase = (sentence.get("sent") or sentence.get("raw") or "").strip()
            yield grounding_row(
                codec=codec, options=options, where=f"{where} sentence {sentence.get('sent_id')}",
                row_id=f"{dataset}/{ref['split']}/{ref['ref_id']}-{sentence.get('sent_id')}", split=ref["split"],
                phrase=phrase, box_xyxy=[x, y, x + w, y + h], image_path=image_root / image["file_name"],
                declared_size=(int(image["width"]), int(image["height"])),
            )
