"""Clock reading (the TIME image-folder dataset): one row per image, the time from its folder.

Images live in class folders named by the time they show, ``2-55`` or ``2_55`` (hour 1..12
or 0..11, minute 00..59), optionally under split folders (``train/2-55/x.jpg``; pick one
with ``--split``). The answer is ``H:MM`` in the family's wording.

    metricsft data convert clock --src TIME/ --split test --format paligemma --out data
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from metricsft.templates import Codec

from metricsft.templates.rows import ClockTruth, image_meta

from .common import IMAGE_SUFFIXES, ConversionError, Converter, ImageOptions, Invalid, TrainingExample, image_info, make_row, require_image_family

CLASS_FOLDER = re.compile(r"^(\d{1,2})[-_:](\d{1,2})$")


def folder_time(name: str) -> tuple[int, int] | None:
    """(hour, minute) from a class folder name, or None when the name is not a time.

    >>> folder_time("2-55"), folder_time("02_05"), folder_time("cats")
    ((2, 55), (2, 5), None)
    """
    match = CLASS_FOLDER.match(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def convert(options: ImageOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    require_image_family(codec, "clock")
    src = Path(options.src)
    if not src.is_dir():
        raise ConversionError(f"{src}: expected the dataset folder (class folders named like 2-55 or 2_55)")
    if options.split:
        if not (src / options.split).is_dir():
            raise ConversionError(f"{src}: no split folder {options.split!r} (found: {', '.join(sorted(p.name for p in src.iterdir() if p.is_dir()))})")
        src = src / options.split
    split = options.split or src.name
    images = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ConversionError(f"{src}: no images found")
    for path in images:
        relative = path.relative_to(src)
        time = folder_time(path.parent.name)
        if time is None:
            yield Invalid(str(path), "malformed row", f"its folder {path.parent.name!r} is not a time like 2-55 or 2_55")
            continue
        hour, minute = time
        try:
            answer = codec.format_time(hour, minute)
        except ValueError as err:
            yield Invalid(str(path), "bad time", f"folder {path.parent.name!r}: {err}")
            continue
        try:
            info = image_info(path, options, codec)
        except OSError as err:
            yield Invalid(str(path), "unreadable image", str(err))
            continue
        yield make_row(
            row_id=f"clock/{split}/{relative.with_suffix('').as_posix()}", codec=codec, prompt=codec.prompt("clock"),
            answer=answer, task="clock", split=split, images=[path], meta=image_meta(info),
            truth=ClockTruth(hour, minute),
        )


CONVERTER = Converter(ImageOptions, convert, TrainingExample("analog clock reading (TIME)", "--src TIME/ --split train", "the time H:MM on a 12-hour dial"))
