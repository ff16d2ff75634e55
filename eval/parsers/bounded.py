"""Limits on what a parser hands to number conversion or to a JSON reader.

Model output is untrusted: a 5,000-digit number makes ``int()`` / ``Fraction()`` raise (Python caps
integer strings at 4,300 digits) and 3,000 ``[`` make ``json.loads`` recurse until RecursionError.
No real answer comes near these caps, so text over them is refused with a reason up front instead
of being converted.

    >>> from metricsft.templates import ImageInfo, get_codec
    >>> guarded(lambda t: get_codec("qwen2_5_vl").parse_boxes(t, ImageInfo(280, 280)), "[" * 3000).reason
    'brackets nested 3000 deep (parsers read at most 32 levels)'
    >>> too_complex("#### " + "9" * 5000)
    'a number with 5000 digits (parsers read at most 64)'
"""

from __future__ import annotations

import re
from typing import Callable, TypeVar

from metricsft.templates.base import Parsed

T = TypeVar("T")

# A coordinate, a clock time, a rating or a GSM8k answer has at most ~20 digits; 64 leaves room for
# long decimals while staying far below Python's 4,300-digit int limit.
MAX_DIGITS = 64
# Family syntax nests at most 3 levels (a JSON list of objects holding a list of [x, y] points).
MAX_NESTING = 32

_LONG_DIGIT_RUN = re.compile(rf"\d{{{MAX_DIGITS + 1},}}")
_BRACKETS = re.compile(r"[\[\]{}()]+")
_OPENING = frozenset("[{(")


def nesting_depth(text: str) -> int:
    """Deepest bracket nesting in ``text`` ((, [ and { counted alike; unbalanced closers ignored).

    >>> nesting_depth('[{"bbox_2d": [1, 2, 3, 4]}]'), nesting_depth("a)b(")
    (3, 1)
    """
    depth = deepest = 0
    for run in _BRACKETS.findall(text):  # only the bracket characters are visited in Python
        for char in run:
            if char in _OPENING:
                depth += 1
                deepest = max(deepest, depth)
            elif depth:
                depth -= 1
    return deepest


def overlong_number(text: str) -> str | None:
    """Why ``text`` holds a number too long to convert, else None.

    >>> overlong_number("12 and 3.5") is None
    True
    """
    long_run = _LONG_DIGIT_RUN.search(text)
    if long_run is not None:
        return f"a number with {len(long_run.group(0))} digits (parsers read at most {MAX_DIGITS})"
    return None


def too_complex(text: str) -> str | None:
    """Why ``text`` must not be converted (an over-long number, too deep nesting), else None."""
    long_number = overlong_number(text)
    if long_number is not None:
        return long_number
    depth = nesting_depth(text)
    if depth > MAX_NESTING:
        return f"brackets nested {depth} deep (parsers read at most {MAX_NESTING} levels)"
    return None


def guarded(parse: Callable[[str], Parsed[T]], text: str) -> Parsed[T]:
    """``parse(text)`` when ``text`` is within the limits, else a failure saying which one.

    Every codec call on model text (or on a reference label) in ``metricsft.eval`` goes through here:
    codecs convert numbers with ``int``/``float``/``json`` and are not written for hostile input.
    """
    reason = too_complex(text)
    if reason is not None:
        return Parsed.failure(reason)
    return parse(text)
