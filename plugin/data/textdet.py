"""Scene-text detection (ICDAR2015, MSRA-TD500, CTW1500, Total-Text) -> one row per image.

``--src`` is the folder of annotation files (``gt_img_N.txt``, ``IMG_N.gt``, ``0001.txt``);
images are looked up by name (``gt_`` prefix dropped) in ``--images`` (default: ``--src``).
The answer lists the legible regions (polygon + transcription as the label); do-not-care
regions stay out of the answer but are kept in ``meta.truth`` with ``dont_care: true`` so
that scoring can ignore detections inside them. An image with no legible region is skipped
as ``no legible text`` (the answer would be empty).

    metricsft data convert textdet --src ch4_test_gt --images ch4_test_images --format qwen2_vl --out data
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from metricsft.templates import Codec, Polygon

from metricsft.templates.rows import TextDetTruth, TextRegion, image_meta

from .common import ConversionError, Converter, ImageOptions, Invalid, TrainingExample, find_image, image_info, make_row, require_image_family
from .textdet_formats import PARSERS, detect_layout

ANNOTATION_SUFFIXES = (".txt", ".gt")


@dataclass
class TextDetOptions(ImageOptions):
    layout: str = field(default="auto", metadata={"help": "icdar2015, td500, ctw1500, totaltext or auto (detect)"})


def _annotation_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise ConversionError(f"{src}: no such folder of annotation files")
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in ANNOTATION_SUFFIXES and p.is_file())
    if not files:
        raise ConversionError(f"{src}: no .txt / .gt annotation files")
    return files


def _inside(region: TextRegion, width: int, height: int) -> bool:
    return all(0 <= x <= width and 0 <= y <= height for x, y in region.points)


def convert(options: TextDetOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    require_image_family(codec, "textdet")
    if options.layout != "auto" and options.layout not in PARSERS:
        raise ConversionError(f"textdet --layout must be auto or one of {', '.join(PARSERS)}, got {options.layout!r}")
    src = Path(options.src)
    image_root = Path(options.images) if options.images else (src if src.is_dir() else src.parent)
    split = options.split or (src.name if src.is_dir() else src.parent.name)
    for path in _annotation_files(src):
        text = path.read_text(encoding="utf-8-sig")
        layout = options.layout if options.layout != "auto" else detect_layout(path.suffix, text)
        stem = path.stem[3:] if path.stem.startswith("gt_") else path.stem
        image_path = find_image(image_root, stem)
        if image_path is None:
            yield Invalid(str(path), "missing image", f"no image named {stem}.jpg/.png/... in {image_root} (set --images)")
            continue
        info = image_info(image_path, options, codec)
        regions, bad = [], None
        for number, parsed in PARSERS[layout](text):
            if isinstance(parsed, str):
                bad = Invalid(f"{path}:{number}", "malformed row", f"{parsed} ({layout} layout)")
                break
            if not _inside(parsed, info.width, info.height):
                bad = Invalid(f"{path}:{number}", "box outside image", f"polygon {list(parsed.points)} leaves the {info.width}x{info.height} image {image_path.name}")
                break
            regions.append(parsed)
        if bad is not None:
            yield bad
            continue
        legible = [Polygon(r.points, label=codec.clean_label(r.text)) for r in regions if not r.dont_care]
        if not legible:
            yield Invalid(str(path), "no legible text", "every region is do-not-care (or there are none): nothing to answer")
            continue
        try:
            answer = codec.format_polygons(legible, info)
        except ValueError as err:
            yield Invalid(str(path), "polygon not writable", str(err))
            continue
        yield make_row(
            row_id=f"textdet/{split}/{stem}", codec=codec, prompt=codec.prompt("textdet"), answer=answer,
            task="textdet", split=split, images=[image_path], meta={**image_meta(info), "layout": layout}, truth=TextDetTruth(tuple(regions)),
        )


CONVERTER = Converter(TextDetOptions, convert, TrainingExample("scene-text detection (ICDAR2015-style polygons)",
                      "--src icdar2015/train_gt --images icdar2015/train_images --split train", None))
