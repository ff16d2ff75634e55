"""Shared pieces of every converter: options, the bad-input record, row building, image checks.

A converter is a generator ``convert(options, codec) -> Iterator[dict | Invalid]``: it yields
finished rows, and ``Invalid`` for input it cannot use. The driver (``convert.py``) decides
whether an ``Invalid`` stops the conversion with its message or is skipped and counted
(``--skip-invalid``), so every converter reports bad input the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from metricsft.templates import FAMILIES, Codec, ImageInfo, image_families
from metricsft.templates.qwen2_5_vl import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS
from metricsft.templates.rows import Truth

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class ConversionError(ValueError):
    """Input that cannot be converted; the message names the file and line (or image)."""


@dataclass(frozen=True)
class Invalid:
    """One unusable input record: where it is, a short reason (for counts) and the details."""

    where: str
    reason: str
    detail: str

    def message(self) -> str:
        return f"{self.where}: {self.reason}: {self.detail}"


@dataclass
class ConvertOptions:
    """What every converter accepts; each converter adds its own fields in a subclass (its ``Options``).

    The ``metricsft data convert TASK`` flags are derived from these fields (help text and defaults
    live here, once). Options are never changed while converting.
    """

    task: str = field(metadata={"cli": False})
    src: str = field(metadata={"help": "raw data: a file, a folder, or generate:MODULE (arithmetic)"})
    family: str = field(metadata={"flag": "--format", "help": f"model family: {', '.join(FAMILIES)}"})
    out: str = field(metadata={"help": "output folder (gets NAME.jsonl and dataset_info.json)"})
    split: str | None = field(default=None, metadata={"help": "split to keep / record"})
    name: str | None = field(default=None, metadata={"help": "dataset name (default TASK[_VARIANT][_SPLIT]_FAMILY)"})
    skip_invalid: bool = field(default=False, metadata={"help": "skip bad records and report counts by reason"})
    limit: int | None = field(default=None, metadata={"help": "stop after N rows"})

    def name_parts(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Extra words in the default dataset name (rewardbench: its mode), so variants never overwrite each other."""
        return []


@dataclass
class ImageOptions(ConvertOptions):
    """Options of the converters whose rows carry an image."""

    images: str | None = field(default=None, metadata={"help": "folder that holds the images (default: next to --src)"})
    # They must equal the processor's min/max_pixels at training and inference time (and LLaMA-Factory's
    # image_max_pixels must not shrink the image first).
    min_pixels: int | None = field(default=DEFAULT_MIN_PIXELS, metadata={"help": "qwen2_5_vl: the processor's min_pixels"})
    max_pixels: int | None = field(default=DEFAULT_MAX_PIXELS, metadata={"help": "qwen2_5_vl: the processor's max_pixels"})


@dataclass(frozen=True)
class TrainingExample:
    """What the generated training config of a task says (``metricsft.data_configs.task_configs``)."""

    #: the data, in a few words ("GSM8k worked solutions")
    description: str
    #: arguments of ``metricsft data convert TASK`` before ``--format``, for the official raw layout
    convert_args: str
    #: how the answer's numbers are written; None: the family's box/polygon syntax (codec.geometry_syntax)
    numbers: str | None


@dataclass(frozen=True)
class Converter:
    """One task's converter: its options class, its ``convert(options, codec)`` generator, its config example."""

    options: type[ConvertOptions]
    convert: Callable[[Any, Codec], Iterator[dict[str, Any] | Invalid]]
    example: TrainingExample

    @property
    def needs_images(self) -> bool:
        return issubclass(self.options, ImageOptions)


def require_image_family(codec: Codec, task: str) -> None:
    if not codec.has_images:
        raise ConversionError(
            f"family {codec.family!r} is text-only but task {task!r} needs images; "
            f"use one of {', '.join(image_families())}"
        )


def image_info(path: Path, options: ImageOptions, codec: Codec) -> ImageInfo:
    """Size of an image file (only the header is read), with the resize bounds the family needs."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
    return codec.image_info(width, height, options.min_pixels, options.max_pixels)


def find_image(root: Path, stem: str) -> Path | None:
    """The image file named ``stem`` + any image suffix (either case) directly in ``root``."""
    for suffix in IMAGE_SUFFIXES:
        for candidate in (root / f"{stem}{suffix}", root / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def make_row(
    *,
    row_id: str,
    codec: Codec,
    prompt: str,
    answer: str,
    task: str,
    split: str,
    truth: Truth,
    images: list[Path] | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One sharegpt row as LLaMA-Factory reads it, plus ``id`` and ``meta`` for scoring.

    >>> from metricsft.templates import get_codec
    >>> from metricsft.templates.rows import AnswerTruth
    >>> row = make_row(row_id="gsm8k/test/0", codec=get_codec("llama"), prompt="1+1?", answer="2",
    ...                task="gsm8k", split="test", truth=AnswerTruth("2"))
    >>> row["messages"][1], row["meta"]["truth"]
    ({'role': 'assistant', 'content': '2'}, {'answer': '2'})
    """
    # LLaMA-Factory needs exactly one <image> placeholder per image in the user turn.
    user = "<image>" * len(images or []) + prompt
    row: dict[str, Any] = {
        "id": row_id,
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
    }
    if images:
        row["images"] = [str(path.resolve()) for path in images]
    row["meta"] = {"task": task, "family": codec.family, "split": split, **(meta or {}), "truth": truth.to_json()}
    return row
