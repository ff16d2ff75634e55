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


QUAD_A = "<|quad_start|>(100,100),(200,100),(200,150),(100,150)<|quad_end|>"
QUAD_BAD = "<|quad_start|>(300,100),(400,100)<|quad_end|>"  # two points: not a polygon
QUAD_C = "<|quad_start|>(500,100),(600,100),(600,150),(500,150)<|quad_end|>"


@pytest.mark.parametrize("order", [(QUAD_A, QUAD_BAD, QUAD_C), (QUAD_BAD, QUAD_A, QUAD_C), (QUAD_A, QUAD_C, QUAD_BAD)])
def test_one_malformed_quad_drops_only_itself(order):
    parsed = parse_polygons("".join(order), get_codec("qwen2_vl"), ImageInfo(1000, 1000))
    assert parsed.ok
    assert [p.points[0] for p in parsed.value] == [(100.0, 100.0), (500.0, 100.0)]  # text order kept
    assert parsed.rejected == ("a polygon needs at least 3 points, got 2",)


@pytest.mark.parametrize("family", FAMILIES)
def test_an_out_of_range_object_drops_only_itself(family):
    codec = get_codec(family)
    good = codec.format_boxes([BOXES[0]], IMAGE)
    # the same syntax with one coordinate far outside the family's range
    bad = {
        "qwen2_vl": "<|box_start|>(10,10),(5000,20)<|box_end|>",
        "qwen2_5_vl": '{"bbox_2d": [10, 10, 99999, 20]}',
        "llava": "[0.1, 0.1, 7.5, 0.2]",
        "paligemma": "<loc0010><loc0010><loc9999><loc0020>",
        "llama": "[10, 10, 99999, 20]",
    }[family]
    text = f"First {bad} then {good}."
    parsed = parse_boxes(text, codec, IMAGE)
    assert parsed.ok, parsed.reason
    assert len(parsed.value) == 1 and _close(parsed.value[0], BOXES[0], family)
    assert len(parsed.rejected) == 1


def test_flipped_boxes_are_rejected_one_by_one():
    parsed = parse_boxes("[10, 10, 50, 50]\n[90, 90, 5, 5]\n[1, 1, 2, 2]", get_codec("llama"), IMAGE)
    assert [b.coords() for b in parsed.value] == [(10, 10, 50, 50), (1, 1, 2, 2)]
    assert parsed.rejected == ("invalid box: needs x2 >= x1 and y2 >= y1, got (90.0, 90.0, 5.0, 5.0)",)


def test_llava_box_wholly_in_the_padding_is_a_zero_area_answer_not_a_failure():
    # 640x480 padded to 640x640: rows 0..80 of the square are padding; y in [0.02, 0.1] lies in it
    parsed = parse_boxes("[0.1, 0.02, 0.5, 0.1]", get_codec("llava"), IMAGE)
    assert parsed.ok and parsed.rejected == ()
    assert parsed.value[0].coords() == (64.0, 0.0, 320.0, 0.0)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "text, why",
    [
        ("[" * 3000, "brackets nested 3000 deep"),
        ("[" * 3000 + "]" * 3000, "brackets nested 3000 deep"),
        ('```json\n[{"bbox_2d": [1' + "0" * 5000 + ', 1, 2, 2]}]\n```', "a number with 5001 digits"),
        ("(" + "9" * 5000 + ", 1), (2, 2)", "a number with 5000 digits"),
    ],
    ids=["open-brackets", "balanced-brackets", "huge-json-number", "huge-bare-number"],
)
def test_hostile_text_is_a_failure_with_a_reason(family, text, why):
    codec = get_codec(family)
    for parsed in (parse_boxes(text, codec, IMAGE), parse_polygons(text, codec, IMAGE)):
        assert not parsed.ok and why in parsed.reason


def test_a_huge_number_in_one_object_keeps_the_others():
    codec = get_codec("qwen2_vl")
    text = "<|box_start|>(1" + "0" * 5000 + ",1),(2,2)<|box_end|>" + codec.format_boxes([BOXES[1]], IMAGE)
    parsed = parse_boxes(text, codec, IMAGE)
    assert len(parsed.value) == 1 and _close(parsed.value[0], BOXES[1], "qwen2_vl")
    assert parsed.rejected == ("a number with 5001 digits (parsers read at most 64)",)


def test_qwen25_objects_with_nested_fields_are_read_whole():
    # a flat-object scan cannot see these objects; the whole JSON list is read by the codec first
    text = 'Found: [{"bbox_2d": [10, 20, 110, 220], "label": "cup", "attributes": {"color": "red"}}]'
    parsed = parse_boxes(text, get_codec("qwen2_5_vl"), IMAGE)
    assert parsed.ok and parsed.value[0].label == "cup" and parsed.rejected == ()
