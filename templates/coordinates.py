"""Coordinate spaces: how each family turns original-image pixels into the numbers it writes.

A space maps a point (x, y) in pixels of the ORIGINAL image to the two numbers the model
writes (``encode``), and back (``decode``). ``encode`` quantises; ``decode(encode(p))`` is the
centre of p's quantisation cell, so ``encode(decode(encode(p))) == encode(p)`` exactly.

>>> space = Grid1000()
>>> space.encode(213.5, 100, ImageInfo(427, 640))
(500, 156)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache

from .base import ImageInfo, round_half_up


class CoordinateSpace(ABC):
    """Original pixels <-> written numbers for one family."""

    #: one-line description printed in docs and error messages
    description: str = ""

    @abstractmethod
    def encode(self, x: float, y: float, image: ImageInfo) -> tuple[float, float]:
        """Pixels of the original image -> the (quantised) numbers the model writes."""

    @abstractmethod
    def decode(self, a: float, b: float, image: ImageInfo) -> tuple[float, float]:
        """Written numbers -> pixels of the original image."""

    @abstractmethod
    def limits(self, image: ImageInfo) -> tuple[float, float]:
        """Largest value a written x / y may take (the smallest is 0)."""

    def check(self, a: float, b: float, image: ImageInfo) -> str | None:
        """None when the written pair lies in range, else the reason."""
        max_a, max_b = self.limits(image)
        if not (0 <= a <= max_a and 0 <= b <= max_b):
            return f"coordinate ({a:g}, {b:g}) outside 0..{max_a:g} x 0..{max_b:g} ({self.description})"
        return None


class Grid1000(CoordinateSpace):
    """Qwen2-VL: integers on a 0..1000 grid relative to the image, rounded half up.

    Half-up rounding reproduces real Qwen2-VL-style grounding data (x/W*1000 = 170.5 -> 171).
    """

    description = "integer 0..1000 grid relative to the original image"
    grid = 1000

    def encode(self, x: float, y: float, image: ImageInfo) -> tuple[float, float]:
        return (round_half_up(x / image.width * self.grid), round_half_up(y / image.height * self.grid))

    def decode(self, a: float, b: float, image: ImageInfo) -> tuple[float, float]:
        return (a * image.width / self.grid, b * image.height / self.grid)

    def limits(self, image: ImageInfo) -> tuple[float, float]:
        return (self.grid, self.grid)


@lru_cache(maxsize=4096)
def _resized(height: int, width: int, min_pixels: int | None, max_pixels: int | None) -> tuple[int, int]:
    from qwen_vl_utils import smart_resize

    # factor 28 = patch 14 x spatial merge 2, Qwen2.5-VL's image processor
    return smart_resize(height, width, factor=28, min_pixels=min_pixels, max_pixels=max_pixels)


class ResizedPixels(CoordinateSpace):
    """Qwen2.5-VL: integer pixels of the image after ``qwen_vl_utils.smart_resize``.

    The resize depends on min_pixels/max_pixels, so rows record the ones inference will use.
    """

    description = "integer pixels of the smart_resize'd image (Qwen2.5-VL)"

    def resized(self, image: ImageInfo) -> tuple[int, int]:
        """(width, height) of the image the model sees."""
        height, width = _resized(int(image.height), int(image.width), image.min_pixels, image.max_pixels)
        return width, height

    def encode(self, x: float, y: float, image: ImageInfo) -> tuple[float, float]:
        width, height = self.resized(image)
        return (round_half_up(x * width / image.width), round_half_up(y * height / image.height))

    def decode(self, a: float, b: float, image: ImageInfo) -> tuple[float, float]:
        width, height = self.resized(image)
        return (a * image.width / width, b * image.height / height)

    def limits(self, image: ImageInfo) -> tuple[float, float]:
        return tuple(float(v) for v in self.resized(image))  # type: ignore[return-value]


@dataclass(frozen=True)
class PaddedSquare(CoordinateSpace):
    """LLaVA-1.5: floats in [0, 1] relative to the image padded (centred) to a square S = max(W, H).

    Written with ``decimals`` digits (LLaVA-1.5's grounding data uses 3). Decoding clips to the
    original image: the padding holds no content, so a point in it means "at the image edge"
    (and a box written at the edge reads back inside the image instead of 0.01 px outside).
    """

    decimals: int = 3
    description: str = "floats in [0,1] on the image padded to a centred square (LLaVA-1.5)"

    def _pad(self, image: ImageInfo) -> tuple[float, float, float]:
        side = max(image.width, image.height)
        return side, (side - image.width) / 2, (side - image.height) / 2

    def encode(self, x: float, y: float, image: ImageInfo) -> tuple[float, float]:
        side, pad_x, pad_y = self._pad(image)
        scale = 10**self.decimals
        return (round_half_up((x + pad_x) / side * scale) / scale, round_half_up((y + pad_y) / side * scale) / scale)

    def decode(self, a: float, b: float, image: ImageInfo) -> tuple[float, float]:
        side, pad_x, pad_y = self._pad(image)
        return (min(max(a * side - pad_x, 0.0), image.width), min(max(b * side - pad_y, 0.0), image.height))

    def limits(self, image: ImageInfo) -> tuple[float, float]:
        return (1.0, 1.0)


class LocBins(CoordinateSpace):
    """PaliGemma: bin = round(v * 1023) of the normalised coordinate, clipped to 0..1023.

    This follows google-research/big_vision ``pp/proj/paligemma/segmentation.py``
    (``tf.round(bbox * 1023)`` then clip), and decodes as bin / 1023. ``tf.round`` rounds half
    to even, like Python's ``round``. Note the pair is (x, y) here; PaliGemma's y-first
    order is the codec's business.
    """

    description = "<locNNNN> bins 0..1023 = round(v * 1023) of the normalised coordinate"
    bins = 1023

    def encode(self, x: float, y: float, image: ImageInfo) -> tuple[float, float]:
        def binned(v: float) -> int:
            return min(self.bins, max(0, round(v * self.bins)))

        return (binned(x / image.width), binned(y / image.height))

    def decode(self, a: float, b: float, image: ImageInfo) -> tuple[float, float]:
        return (a * image.width / self.bins, b * image.height / self.bins)

    def limits(self, image: ImageInfo) -> tuple[float, float]:
        return (self.bins, self.bins)


class Pixels(CoordinateSpace):
    """Plain text (Llama): integer pixels of the original image, rounded half up."""

    description = "integer pixels of the original image"

    def encode(self, x: float, y: float, image: ImageInfo) -> tuple[float, float]:
        return (round_half_up(x), round_half_up(y))

    def decode(self, a: float, b: float, image: ImageInfo) -> tuple[float, float]:
        return (float(a), float(b))

    def limits(self, image: ImageInfo) -> tuple[float, float]:
        return (float(image.width), float(image.height))
