"""The shared registry helper and the family facts every codec must declare."""

from __future__ import annotations

import subprocess
import sys

import pytest

from metricsft.registry import Registry, check_arguments
from metricsft.templates import CODECS, FAMILIES, Box, ImageInfo, Polygon, get_codec


def test_unknown_names_list_the_choices_and_the_closest() -> None:
    with pytest.raises(ValueError, match=r"^unknown family 'qwen2vl'; choose one of: qwen2_vl, .*; did you mean 'qwen2_vl'\?$"):
        get_codec("qwen2vl")
    with pytest.raises(ValueError, match=r"^unknown family 'gpt'; choose one of: [a-z0-9_, ]+$"):  # nothing close: no hint
        get_codec("gpt")


def test_targets_are_imported_on_first_use_only() -> None:
    code = (
        "import sys\n"
        "from metricsft.templates import CODECS\n"
        "before = 'metricsft.templates.qwen2_5_vl' in sys.modules\n"
        "CODECS.load('qwen2_5_vl')\n"
        "print(before, 'metricsft.templates.qwen2_5_vl' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_registry_of_objects_and_a_bad_target() -> None:
    table = Registry("colour", {"red": 1, "broken": "metricsft.templates:NoSuchThing"})
    assert table.load("red") == 1 and "red" in table and "blue" not in table
    with pytest.raises(AttributeError, match="NoSuchThing"):
        table.load("broken")


def test_unknown_arguments_are_named_with_hints() -> None:
    check_arguments({"tau": 1}, ["alpha", "tau"], "metric_loss_args")
    with pytest.raises(ValueError) as err:
        check_arguments({"alpah": 1, "zzz": 2}, ["tau", "alpha"], "metric_loss_args", " for metric_loss 'dist2'")
    assert str(err.value) == (
        "unknown metric_loss_args ['alpah', 'zzz'] for metric_loss 'dist2'; valid: ['tau', 'alpha']; did you mean 'alpha' for 'alpah'?"
    )


def test_families_are_the_registered_codecs() -> None:
    assert FAMILIES == CODECS.names
    assert [get_codec(f).family for f in FAMILIES] == list(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_declares_how_its_objects_look_inside_prose(family: str) -> None:
    """A family without a span pattern would silently get weaker lenient parsing: each must find its own objects."""
    codec = get_codec(family)
    image = ImageInfo(640, 480, 3136, 12845056) if codec.uses_resize_bounds else ImageInfo(640, 480)
    written = {
        "box": codec.format_boxes([Box(10, 20, 300, 400, "cat"), Box(50, 60, 70, 80, "dog")], image),
        "polygon": codec.format_polygons([Polygon(((10, 10), (90, 10), (90, 40)), "HI")], image),
    }
    for kind, text in written.items():
        pattern = codec.object_pattern(kind)
        assert pattern is not None, f"{family}: no object_span for {kind}"
        spans = [m.group(0) for m in pattern.finditer(f"Sure! Here it is: {text} Hope that helps.")]
        parse = codec.parse_boxes if kind == "box" else codec.parse_polygons
        parsed = [parse(span.strip(), image) for span in spans]
        assert len(parsed) == (2 if kind == "box" else 1) and all(p.ok for p in parsed), (family, kind, spans)
