"""Clock reading: exact-time accuracy and the time gap in minutes on a 12-hour dial."""

from __future__ import annotations

from typing import Sequence

DIAL_MINUTES = 12 * 60


def minutes_on_dial(hour: int, minute: int) -> int:
    """Minutes after 12:00 on a 12-hour dial (hour 12 and hour 0 are the same position).

    >>> minutes_on_dial(12, 5), minutes_on_dial(0, 5), minutes_on_dial(14, 55)
    (5, 5, 175)
    """
    return (hour % 12) * 60 + minute


def time_gap_minutes(predicted: tuple[int, int], truth: tuple[int, int]) -> int:
    """Shortest distance between two times on the dial: d = |t1 - t2|, gap = min(d, 720 - d).

    >>> time_gap_minutes((11, 50), (12, 10))
    20
    """
    d = abs(minutes_on_dial(*predicted) - minutes_on_dial(*truth)) % DIAL_MINUTES
    return min(d, DIAL_MINUTES - d)


def clock_scores(gaps: Sequence[int | None]) -> dict[str, float]:
    """Scores from one gap per image (``None`` = unparseable).

    Accuracy counts an unparseable answer as wrong; the mean gap is over parsed answers only (a gap
    for "no answer" would be invented), so always read it together with the parse-failure rate.

    >>> clock_scores([0, 30, None, 0])
    {'accuracy': 0.5, 'mean_gap_minutes': 10.0, 'parse_failure_rate': 0.25}
    """
    n = len(gaps)
    parsed = [g for g in gaps if g is not None]
    return {
        "accuracy": sum(g == 0 for g in parsed) / n if n else 0.0,
        "mean_gap_minutes": sum(parsed) / len(parsed) if parsed else float("nan"),
        "parse_failure_rate": (n - len(parsed)) / n if n else 0.0,
    }
