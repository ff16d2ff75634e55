"""Boxes and polygons read back from model-like text in all five family conventions."""

from __future__ import annotations

import pytest

from metricsft.eval.parsers.geometry import parse_boxes, parse_polygons
from metricsft.templates import FAMILIES, Box, ImageInfo, Polygon, get_codec

IMAGE = ImageInfo(width=640, height=480)
BOXES = [Box(32, 48, 320, 400), Box(400, 24, 600, 120)]
QUAD = Polygon(((64.0, 48.0), (320.0, 48.0), (320.0, 144.0), (64.0, 144.0)))

# What one quantisation step of each family costs in pixels of IMAGE (the codec's own grid): the parsed
# box may differ from the written one by half a step, plus float noise.
TOLERANCE = {"qwen2_vl": 0.7, "qwen2_5_vl": 1.2, "llava": 0.7, "paligemma": 0.7, "llama": 0.51}


def _close(parsed: Box, expected: Box, family: str) -> bool:
    return all(abs(a - b) <= TOLERANCE[family] for a, b in zip(parsed.coords(), expected.coords()))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "wrap",
    [
        "{}",
        "Sure! Here are the objects: {} Let me know if you need more.",
        "```\n{}\n```",
        "\n\n  {}\n",
    ],
    ids=["bare", "prose", "fence", "whitespace"],
)
def test_several_boxes_in_family_syntax_survive_wrapping(family, wrap):
    codec = get_codec(family)
    text = wrap.format(codec.format_boxes(BOXES, IMAGE))
    parsed = parse_boxes(text, codec, IMAGE)
    assert parsed.ok, (family, text, parsed.reason)
    assert len(parsed.value) == 2
    for got, want in zip(parsed.value, BOXES):
        assert _close(got, want, family), (family, got, want)


@pytest.mark.parametrize("family", FAMILIES)
def test_polygons_in_family_syntax_inside_prose(family):
    codec = get_codec(family)
    text = "The text region is " + codec.format_polygons([QUAD, QUAD], IMAGE) + " (two copies)."
    parsed = parse_polygons(text, codec, IMAGE)
    assert parsed.ok, (family, text, parsed.reason)
    assert len(parsed.value) == 2
    for (x, y), (ex, ey) in zip(parsed.value[0].points, QUAD.points):
        assert abs(x - ex) <= TOLERANCE[family] and abs(y - ey) <= TOLERANCE[family]


def test_bare_tuple_fallbacks_use_the_family_coordinate_space():
    # Qwen2-VL numbers are on a 0..1000 grid: 500 of 640 px is 320 px
    qwen = parse_boxes("The answer: (100, 200, 500, 750)", get_codec("qwen2_vl"), IMAGE)
    assert qwen.value == [Box(64.0, 96.0, 320.0, 360.0)]
    # LLaVA numbers are on the padded square: S = 640, pad_y = 80 -> y = v * 640 - 80
    llava = parse_boxes("bbox = [0.1, 0.25, 0.5, 0.75]", get_codec("llava"), IMAGE)
    assert llava.value == [Box(64.0, 80.0, 320.0, 400.0)]
    # Llama: plain pixels; several bare tuples in prose
    llama = parse_boxes("I see (10, 20, 30, 40) and (50,60),(70,80).", get_codec("llama"), IMAGE)
    assert [b.coords() for b in llama.value] == [(10, 20, 30, 40), (50, 60, 70, 80)]
    # when the family's own syntax is present, the codec reads it and the bare fallback is not used
    mixed = parse_boxes("I see [10, 20, 30, 40] and (50,60),(70,80).", get_codec("llama"), IMAGE)
    assert [b.coords() for b in mixed.value] == [(10, 20, 30, 40)]
    # PaliGemma bare numbers are y first, like its <loc> tokens: bins / 1023 of the size
    pali = parse_boxes("(0, 0, 1023, 511.5)", get_codec("paligemma"), IMAGE)
    assert pali.value[0].coords() == pytest.approx((0.0, 0.0, 320.0, 480.0))


def test_qwen25_json_inside_prose():
    codec = get_codec("qwen2_5_vl")
    text = 'Located it: [{"bbox_2d": [10, 20, 110, 220], "label": "cup"}] — done.'
    parsed = parse_boxes(text, codec, IMAGE)
    assert parsed.ok and parsed.value[0].label == "cup"


@pytest.mark.parametrize(
    "text, why",
    [
        ("I cannot see that object.", "no box found"),
        ("(500, 500), (100, 100)", "invalid box"),  # x2 < x1
        ("[0, 0, 2000, 100]", "out of range"),  # beyond the 0..1000 grid
        ("", "no box found"),
    ],
)
def test_unreadable_boxes_give_a_reason(text, why):
    parsed = parse_boxes(text, get_codec("qwen2_vl"), IMAGE)
    assert not parsed.ok and parsed.value is None
    assert why in parsed.reason


def test_bare_point_lists_as_polygons():
    codec = get_codec("llama")
    parsed = parse_polygons("Polygon: (1,2), (30,2), (30,40), (1,40)", codec, IMAGE)
    assert parsed.value[0].points == ((1.0, 2.0), (30.0, 2.0), (30.0, 40.0), (1.0, 40.0))
    assert not parse_polygons("just two points (1,2),(3,4)", codec, IMAGE).ok


def test_qwen2_vl_answers_decoded_without_special_tokens():
    # LLaMA-Factory decodes predictions with skip_special_tokens=True: Qwen2-VL's <|box_start|> etc. vanish
    codec = get_codec("qwen2_vl")
    written = codec.format_boxes([Box(32, 48, 320, 400, label="the dog")], IMAGE)
    stripped = written
    for token in ("<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>"):
        stripped = stripped.replace(token, "")
    assert stripped == "the dog(50,100),(500,833)"
    parsed = parse_boxes(stripped, codec, IMAGE)
    assert parsed.ok and _close(parsed.value[0], Box(32, 48, 320, 400), "qwen2_vl")
    quad = codec.format_polygons([QUAD], IMAGE).replace("<|quad_start|>", "").replace("<|quad_end|>", "")
    assert parse_polygons(quad, codec, IMAGE).value[0].points[0] == pytest.approx((64.0, 48.0), abs=0.7)
