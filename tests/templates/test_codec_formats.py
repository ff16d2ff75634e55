"""Known outputs, worked out by hand from each family's convention, and the error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metricsft.templates import FAMILIES, Box, ImageInfo, Polygon, get_codec

REFCOCOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "refcocos" / "refcocos_test.json"


def test_qwen2_vl_reproduces_real_grid_values() -> None:
    """A real Qwen2-VL-style RefCOCO file stores the 0-1000 grid next to the pixel box."""
    if not REFCOCOS.exists():
        pytest.skip(f"{REFCOCOS} not present (shared data is optional)")
    rows = [r for r in json.loads(REFCOCOS.read_text()) if r["solution"] is not None]
    assert len(rows) > 100
    codec = get_codec("qwen2_vl")
    for row in rows:
        image = ImageInfo(row["width"], row["height"])
        text = codec.format_boxes([Box(*row["solution"])], image)
        x1, y1, x2, y2 = row["normalized_solution"]
        assert text == f"<|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>"


def test_known_outputs_per_family() -> None:
    # Qwen2.5-VL: smart_resize(500, 1000) -> 504 x 1008; 100 px -> 100.8 -> 101, 50 px -> 50.4 -> 50
    image = ImageInfo(1000, 500)
    assert get_codec("qwen2_5_vl").format_boxes([Box(100, 50, 200, 100)], image) == (
        '```json\n[{"bbox_2d": [101, 50, 202, 101]}]\n```'
    )
    # LLaVA: 200x100 padded to 200x200 with 50 px above: y 10 -> 60/200 = 0.3
    assert get_codec("llava").format_boxes([Box(20, 10, 100, 90, "a b")], ImageInfo(200, 100)) == (
        "a b: [0.100, 0.300, 0.500, 0.700]"
    )
    # PaliGemma: y first; 511.5/1023 * 1023 = 511.5 rounds half to even -> 512
    paligemma = get_codec("paligemma")
    two = [Box(0, 0, 511.5, 1023, "cat"), Box(1023, 0, 1023 * 2, 2046, "dog")]
    assert paligemma.format_boxes(two, ImageInfo(2046, 2046)) == (
        "<loc0000><loc0000><loc0512><loc0256> cat ; <loc0000><loc0512><loc1023><loc1023> dog"
    )
    assert get_codec("llama").format_boxes([Box(10.4, 20.5, 30, 40)], ImageInfo(64, 48)) == "[10, 21, 30, 40]"
    assert get_codec("qwen2_vl").format_polygons([Polygon(((0, 0), (10, 0), (10, 5)), "HI")], ImageInfo(20, 10)) == (
        "<|object_ref_start|>HI<|object_ref_end|><|quad_start|>(0,0),(500,0),(500,500)<|quad_end|>"
    )


def test_qwen2_5_vl_parses_unfenced_json_and_single_object() -> None:
    codec = get_codec("qwen2_5_vl")
    image = ImageInfo(1008, 504)  # already a multiple of 28: resized == original
    parsed = codec.parse_boxes('{"bbox_2d": [10, 20, 30, 40], "label": "cup"}', image)
    assert parsed.ok and parsed.value == [Box(10, 20, 30, 40, "cup")]


@pytest.mark.parametrize(
    ("family", "text", "reason_part"),
    [
        ("qwen2_vl", "the box is (1,2),(3,4)", "expected <|box_start|>"),
        ("qwen2_vl", "<|box_start|>(1,2),(3,1200)<|box_end|>", "outside 0..1000"),
        ("qwen2_5_vl", '```json\n[{"bbox_2d": [1, 2, 3]}]\n```', "[x1, y1, x2, y2]"),
        ("qwen2_5_vl", "[{bbox_2d: 1}]", "not valid JSON"),
        ("llava", "[0.1, 0.2, 1.3, 0.4]", "outside 0..1"),
        ("llava", "[0.1, 0.2, 0.3]", "odd number"),
        ("paligemma", "<loc0500><loc0100><loc0400><loc0200> cat", "y2 > y1"),
        ("paligemma", "<loc0500><loc0100> cat", "4 <loc> tokens"),
        ("llama", "", "no [x1, y1, x2, y2] found"),
        ("llama", "[1, 2, 3, 4] and then prose", "separator"),
    ],
)
def test_parse_failures_say_why(family: str, text: str, reason_part: str) -> None:
    parsed = get_codec(family).parse_boxes(text, ImageInfo(640, 480))
    assert not parsed.ok and parsed.value is None
    assert reason_part in parsed.reason


@pytest.mark.parametrize("family", FAMILIES)
def test_format_refuses_what_the_family_cannot_write(family: str) -> None:
    codec = get_codec(family)
    image = ImageInfo(100, 50)
    with pytest.raises(ValueError, match="outside the 100x50 image"):
        codec.format_boxes([Box(10, 10, 120, 40)], image)
    with pytest.raises(ValueError, match="x1 > x2"):
        codec.format_boxes([Box(50, 10, 20, 40)], image)
    with pytest.raises(ValueError, match="at least 3 points"):
        codec.format_polygons([Polygon(((1, 1), (2, 2)))], image)
    with pytest.raises(ValueError, match="12-hour"):
        codec.format_time(13, 0)
    with pytest.raises(ValueError, match="not a number"):
        codec.format_answer("eighteen")
    assert not codec.parse_time("14:05").ok and not codec.parse_time("2.55").ok
    assert codec.parse_scores("helpfulness: 3, helpfulness: 4").reason == "score 'helpfulness' appears twice"


def test_labels_that_would_break_the_syntax_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot be written unambiguously"):
        get_codec("paligemma").format_boxes([Box(0, 0, 50, 50, "a ; b")], ImageInfo(100, 100))
    with pytest.raises(ValueError, match="cannot be written unambiguously"):
        get_codec("llava").format_boxes([Box(0, 0, 50, 50, "note: x")], ImageInfo(100, 100))


def test_paligemma_refuses_boxes_that_collapse_into_one_bin() -> None:
    with pytest.raises(ValueError, match="y2 > y1 and x2 > x1"):
        get_codec("paligemma").format_boxes([Box(10, 10, 10.1, 50)], ImageInfo(4000, 100))


def test_unknown_family_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown family 'gpt'; choose one of: qwen2_vl, qwen2_5_vl, llava, paligemma, llama"):
        get_codec("gpt")


def test_prompts_come_from_yaml_and_name_missing_fields() -> None:
    assert get_codec("paligemma").prompt("refcoco", phrase="left dog") == "detect left dog"
    assert "left dog" in get_codec("llava").prompt("refcoco", phrase="left dog")
    with pytest.raises(ValueError, match=r"needs the field\(s\) \['phrase'\]"):
        get_codec("qwen2_vl").prompt("refcoco")
    with pytest.raises(ValueError, match="no prompt for task 'weather'"):
        get_codec("llama").prompt("weather")
