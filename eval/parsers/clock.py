"""Clock times from model text: the family codec first, then lenient forms found inside prose.

Accepted lenient forms: ``2:55``, ``02:55``, ``2_55``, ``2-55``, ``2h55``, ``2 : 55``, also inside a
sentence ("The clock shows 2:55."), and with seconds (``10:10:30``: the seconds are ignored, the task
scores hour and minute). Spelled-out times ("five to three") are not parsed: they give "no answer"
with a reason, never an exception.
"""

from __future__ import annotations

import re

from metricsft.templates.base import Codec, Parsed

# Hour and minute separated by one of : _ - h, optional ":SS" seconds; not glued to other digits, so
# "12:345" or a date such as "2024-05-01" (four digits before the dash) do not read as times.
_TIME_IN_TEXT = re.compile(r"(?<![\d:_\-])(\d{1,2})\s*[:_\-h]\s*(\d{2})(?::(\d{2}))?(?![\d:_\-])")


def parse_clock_time(text: str, codec: Codec | None = None) -> Parsed[tuple[int, int]]:
    """Read ``(hour, minute)`` from model output; hour keeps the model's value (0..23), minute 0..59.

    When several times appear, the LAST VALID one is taken: models that explain their reading state the
    answer at the end ("the hour hand is past 2 ... so it is 2:55"), and a later impossible time
    ("25:70") is noise, not a change of mind.

    >>> parse_clock_time("It shows 2_55.").value
    (2, 55)
    >>> parse_clock_time("Roughly 10:10:30, i.e. 10:10 - not 25:70").value
    (10, 10)
    >>> parse_clock_time("It is five to three").reason
    'no time written H:MM, H_MM or H-MM in the answer'
    """
    if codec is not None:
        strict = codec.parse_time(text)
        if strict.ok:
            return strict
    found = _TIME_IN_TEXT.findall(text)
    if not found:
        return Parsed.failure("no time written H:MM, H_MM or H-MM in the answer")
    valid = [(int(h), int(m)) for h, m, sec in found if int(h) <= 23 and int(m) <= 59 and (not sec or int(sec) <= 59)]
    if not valid:
        hour, minute, seconds = found[-1]
        written = f"{hour}:{minute}" + (f":{seconds}" if seconds else "")
        return Parsed.failure(f"{written} is not a clock time")
    return Parsed.success(valid[-1])
