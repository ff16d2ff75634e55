"""Clock times, verdicts, ratings and named scores from model-like text."""

from __future__ import annotations

import pytest

from metricsft.eval.parsers.clock import parse_clock_time
from metricsft.eval.parsers.judgements import parse_named_scores, parse_rating, parse_verdict
from metricsft.templates import FAMILIES, get_codec


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2:55", (2, 55)),
        ("02:55", (2, 55)),
        ("2_55", (2, 55)),
        ("2-55", (2, 55)),
        ("The clock shows 10:05.", (10, 5)),
        ("At first I thought 3:10, but the hour hand is before 3, so 2:50", (2, 50)),  # last one wins
        ("14:30", (14, 30)),  # kept as written; the metric folds it onto the 12-hour dial
        ("10:10:30", (10, 10)),  # seconds are ignored
        ("It reads 03:07:00.", (3, 7)),
        ("2_55 or 2:55:59", (2, 55)),
        ("The time is 4:20, not 25:70", (4, 20)),  # the last VALID time wins
        ("4:20 then 9:99:99", (4, 20)),
        ("3:15 vs 3:15:75", (3, 15)),  # 75 seconds make the second time invalid
    ],
)
def test_clock_forms(text, expected):
    assert parse_clock_time(text).value == expected


@pytest.mark.parametrize(
    "text", ["It is five to three", "", "2024-05-01", "12:345", "7:61", "25:00", "around 3 o'clock", "10:10:3",
             "1:02:03:04", "99:99 and 25:00"]
)
def test_clock_non_answers_give_reasons(text):
    parsed = parse_clock_time(text)
    assert not parsed.ok and parsed.reason


@pytest.mark.parametrize("family", FAMILIES)
def test_clock_round_trip_through_every_codec(family):
    codec = get_codec(family)
    for hour, minute in [(12, 0), (1, 5), (11, 59)]:
        assert parse_clock_time(codec.format_time(hour, minute), codec).value == (hour, minute)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Assistant A is better. [[A]]", "A"),
        ("[[B]]", "B"),
        ("Final verdict: [[ B ]]", "B"),
        ("Both are equal [[C]]", "tie"),
    ],
)
def test_verdicts(text, expected):
    assert parse_verdict(text).value == expected


@pytest.mark.parametrize("text", ["A is better", "[[A]] ... actually [[B]]", "[A]", ""])
def test_verdict_failures(text):
    parsed = parse_verdict(text)
    assert not parsed.ok and parsed.reason


@pytest.mark.parametrize(
    "text, expected",
    [("7", 7.0), ("Rating: [[8]]", 8.0), ("Score: 6.5/10", 6.5), ("I would rate this response a 4.", 4.0),
     ("rating = 3", 3.0)],
)
def test_ratings(text, expected):
    assert parse_rating(text).value == expected


@pytest.mark.parametrize("text", ["between 3 and 4", "[[3]] no wait [[5]]", "no idea", ""])
def test_rating_failures(text):
    assert not parse_rating(text).ok


def test_named_scores_in_prose_and_codec_form():
    codec = get_codec("llama")
    written = codec.format_scores({"helpfulness": 3, "correctness": 4.5})
    assert parse_named_scores(written, codec).value == {"helpfulness": 3.0, "correctness": 4.5}
    prose = "Here is my assessment.\nHelpfulness: 4\nCoherence = 2.5\n"
    assert parse_named_scores(prose).value == {"Helpfulness": 4.0, "Coherence": 2.5}
    assert parse_named_scores("[[9]]").value == {"score": 9.0}
    assert not parse_named_scores("great answer").ok
    assert not parse_named_scores("Helpfulness: 4, Helpfulness: 2").ok
