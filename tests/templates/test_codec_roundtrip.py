"""Property tests: for every family, parse(format(x)) == x up to that family's own quantisation.

The tolerances are derived here from each family's published convention (half a grid cell),
independently of the codec code: Qwen2-VL 1/1000 of the side, Qwen2.5-VL one pixel of the
smart-resized image (size from qwen_vl_utils itself), LLaVA 1/1000 of the padded square,
PaliGemma 1/1023 of the side, Llama one pixel.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from qwen_vl_utils import smart_resize

from metricsft.templates import FAMILIES, Box, ImageInfo, Polygon, get_codec

SETTINGS = settings(max_examples=60, deadline=None)
LABEL = st.one_of(st.none(), st.from_regex(r"[a-z][a-z0-9 ]{0,10}[a-z0-9]", fullmatch=True))


@st.composite
def images(draw: st.DrawFn) -> ImageInfo:
    width = draw(st.integers(16, 3000))
    height = draw(st.integers(max(16, math.ceil(width / 150)), min(3000, width * 150)))
    bounds = draw(st.sampled_from([(None, None), (3136, 1003520), (200704, 401408), (65536, 262144)]))
    return ImageInfo(width, height, *bounds)


def cell(family: str, image: ImageInfo) -> tuple[float, float]:
    """Width of one quantisation cell along x and y, in original pixels."""
    if family == "qwen2_vl":
        return image.width / 1000, image.height / 1000
    if family == "qwen2_5_vl":
        h_bar, w_bar = smart_resize(image.height, image.width, 28, image.min_pixels, image.max_pixels)
        assert h_bar % 28 == 0 and w_bar % 28 == 0
        return image.width / w_bar, image.height / h_bar
    if family == "llava":
        side = max(image.width, image.height)
        return side / 1000, side / 1000
    if family == "paligemma":
        return image.width / 1023, image.height / 1023
    if family == "llama":
        return 1.0, 1.0
    raise AssertionError(family)


def close(a: float, b: float, cell_size: float) -> bool:
    return abs(a - b) <= cell_size / 2 + 1e-9 * max(1.0, abs(a))


@st.composite
def boxes_in(draw: st.DrawFn, image: ImageInfo, family: str) -> list[Box]:
    count = draw(st.integers(1, 4))
    out = []
    cx, cy = cell(family, image)
    for _ in range(count):
        x1 = draw(st.floats(0, image.width))
        y1 = draw(st.floats(0, image.height))
        x2 = draw(st.floats(x1, image.width))
        y2 = draw(st.floats(y1, image.height))
        if family == "paligemma":
            # PaliGemma rejects boxes whose corners share a bin (y2 > y1 and x2 > x1 must hold).
            assume(round(x2 / image.width * 1023) > round(x1 / image.width * 1023))
            assume(round(y2 / image.height * 1023) > round(y1 / image.height * 1023))
        out.append(Box(x1, y1, x2, y2, label=draw(LABEL) if count == 1 else draw(LABEL.filter(bool))))
    return out


@pytest.mark.parametrize("family", FAMILIES)
@SETTINGS
@given(data=st.data())
def test_boxes_round_trip(family: str, data: st.DataObject) -> None:
    codec = get_codec(family)
    image = data.draw(images())
    boxes = data.draw(boxes_in(image, family))
    text = codec.format_boxes(boxes, image)
    parsed = codec.parse_boxes(text, image)
    assert parsed.ok, (text, parsed.reason)
    assert len(parsed.value) == len(boxes)
    cx, cy = cell(family, image)
    for got, want in zip(parsed.value, boxes):
        assert got.label == want.label
        assert close(got.x1, want.x1, cx) and close(got.x2, want.x2, cx), (text, got, want)
        assert close(got.y1, want.y1, cy) and close(got.y2, want.y2, cy), (text, got, want)
    # what was read back is a fixed point: writing it again gives the same text
    assert codec.format_boxes(parsed.value, image) == text


@pytest.mark.parametrize("family", FAMILIES)
@SETTINGS
@given(data=st.data())
def test_polygons_round_trip(family: str, data: st.DataObject) -> None:
    codec = get_codec(family)
    image = data.draw(images())
    point = st.tuples(st.floats(0, image.width), st.floats(0, image.height))
    polygons = [
        Polygon(tuple(data.draw(st.lists(point, min_size=3, max_size=8))), label=data.draw(LABEL))
        for _ in range(data.draw(st.integers(1, 3)))
    ]
    text = codec.format_polygons(polygons, image)
    parsed = codec.parse_polygons(text, image)
    assert parsed.ok, (text, parsed.reason)
    cx, cy = cell(family, image)
    assert [p.label for p in parsed.value] == [p.label for p in polygons]
    for got, want in zip(parsed.value, polygons):
        assert len(got.points) == len(want.points)
        for (gx, gy), (wx, wy) in zip(got.points, want.points):
            assert close(gx, wx, cx) and close(gy, wy, cy), (text, got, want)
    assert codec.format_polygons(parsed.value, image) == text


@pytest.mark.parametrize("family", FAMILIES)
@SETTINGS
@given(hour=st.integers(0, 12), minute=st.integers(0, 59))
def test_time_round_trip(family: str, hour: int, minute: int) -> None:
    codec = get_codec(family)
    text = codec.format_time(hour, minute)
    assert codec.parse_time(text).value == (hour, minute)
    assert text == f"{hour}:{minute:02d}"


FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
NAMES = st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True)


@pytest.mark.parametrize("family", FAMILIES)
@SETTINGS
@given(scores=st.one_of(FINITE, st.integers(0, 20), st.dictionaries(NAMES, st.one_of(FINITE, st.integers(0, 4)), min_size=1, max_size=5)))
def test_scores_round_trip(family: str, scores: float | dict[str, float]) -> None:
    codec = get_codec(family)
    text = codec.format_scores(scores)
    if not isinstance(scores, dict):
        assert "e" not in text.lower(), text  # positional notation only: digits are what the losses see
    parsed = codec.parse_scores(text)
    assert parsed.ok, (text, parsed.reason)
    expected = {"score": float(scores)} if not isinstance(scores, dict) else {k: float(v) for k, v in scores.items()}
    assert parsed.value == expected


@pytest.mark.parametrize("family", FAMILIES)
@SETTINGS
@given(value=st.one_of(st.integers(-10**9, 10**9), st.fractions(max_denominator=1000), FINITE))
def test_answers_round_trip(family: str, value: int | Fraction | float) -> None:
    codec = get_codec(family)
    text = codec.format_answer(value)
    parsed = codec.parse_answer(text)
    assert parsed.ok and parsed.value == text
    if isinstance(value, float):
        assert float(text) == value and "e" not in text.lower()
    else:
        num, _, den = text.partition("/")
        assert Fraction(int(num), int(den or 1)) == value
