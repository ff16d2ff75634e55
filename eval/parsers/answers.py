"""Final numeric answers: GSM8k extraction rules and exact fractions for arithmetic.

The two GSM8k rules are lm-evaluation-harness's (tasks/gsm8k/gsm8k.yaml):

* strict-match: the FIRST match of ``#### (-?[0-9.,]+)`` (the anchor is a parameter because some
  solution sets, e.g. OpenAI's example_model_solutions.jsonl, end with ``A: N`` instead);
* flexible-extract: the LAST match of ``(-?[$0-9.,]{2,})|(-?[0-9]+)``, anywhere in the text;

then both prediction and gold drop every ``,`` and ``$`` and one trailing ``.`` before an exact string
compare (the harness's ``regexes_to_ignore``). We add a numeric compare (the normalised strings read as
exact fractions) because ``18.00`` vs ``18`` is a formatting miss, not a reasoning miss.

Parsers never raise: they return ``Parsed(value=None, reason=...)`` when there is no answer.
"""

from __future__ import annotations

import re
from fractions import Fraction

from metricsft.eval.parsers.bounded import overlong_number
from metricsft.templates.base import Parsed

GSM8K_STRICT_ANCHOR = "#### "
FLEXIBLE_PATTERN = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
# A rational as mathematics_dataset writes it ("-3/4", "12") or a decimal ("0.25"); used to find the
# final answer of an arithmetic solution.
_RATIONAL = re.compile(r"-?\d+(?:\s*/\s*-?\d+|\.\d+)?")

# What to_fraction accepts. No exponents on purpose: Fraction("1e999999999") would take minutes to
# build, and model output must never hang the scorer (GSM8k/arithmetic answers never use exponents).
_PLAIN_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:/-?\d+)?")


def _strict_pattern(anchor: str) -> re.Pattern[str]:
    return re.compile(re.escape(anchor) + r"(-?[0-9.,]+)")


def normalize_answer(text: str) -> str:
    """Apply lm-evaluation-harness's GSM8k ``regexes_to_ignore``: drop ',' and '$', one trailing '.'.

    >>> normalize_answer(" $1,234. ")
    '1234'
    """
    text = text.strip().replace(",", "").replace("$", "")
    return text[:-1] if text.endswith(".") else text


def strict_match(text: str, anchor: str = GSM8K_STRICT_ANCHOR) -> Parsed[str]:
    """First ``<anchor>(-?[0-9.,]+)`` in ``text``, normalised.

    >>> strict_match("so 3 + 4 = 7\\n#### 7").value
    '7'
    >>> strict_match("A: 1,000", anchor="A: ").value
    '1000'
    >>> strict_match("The answer is 7").reason
    "no '#### ' followed by a number"
    """
    match = _strict_pattern(anchor).search(text)
    if match is None:
        return Parsed(value=None, reason=f"no {anchor!r} followed by a number")
    return Parsed(value=normalize_answer(match.group(1)), reason=None)


def flexible_extract(text: str) -> Parsed[str]:
    """Last number-like run in ``text`` (lm-evaluation-harness flexible-extract), normalised.

    >>> flexible_extract("She pays $1,200. Then 3 more.").value
    '3'
    """
    matches = FLEXIBLE_PATTERN.findall(text)
    if not matches:
        return Parsed(value=None, reason="no number in the answer")
    long_run, short_run = matches[-1]
    return Parsed(value=normalize_answer(long_run or short_run), reason=None)


def to_fraction(text: str) -> Fraction | None:
    """Read a normalised answer ("18", "-0.5", "3/4") as an exact Fraction; None if it is not one.

    >>> to_fraction("-3/4")
    Fraction(-3, 4)
    >>> to_fraction("1.2.3") is None, to_fraction("9" * 5000) is None
    (True, True)
    """
    text = normalize_answer(text).replace(" ", "")
    if not _PLAIN_NUMBER.fullmatch(text) or overlong_number(text):  # int() refuses > 4,300 digits
        return None
    numerator, _, denominator = text.partition("/")
    if denominator and int(denominator) == 0:
        return None
    return Fraction(numerator) / Fraction(denominator or 1)


def numeric_equal(prediction: str | None, gold: str) -> bool:
    """True when both strings read as the same exact number ("18.00" == "18", "0.5" == "1/2").

    >>> numeric_equal("18.00", "18"), numeric_equal("17", "18"), numeric_equal(None, "18")
    (True, False, False)
    """
    if prediction is None:
        return False
    pred, ref = to_fraction(prediction), to_fraction(gold)
    return pred is not None and ref is not None and pred == ref


def final_rational(text: str) -> Parsed[Fraction]:
    """The last rational number in ``text`` (arithmetic answers such as ``-3/4`` or ``12``).

    >>> final_rational("Let's compute: 1/2 + 1/4 = 3/4").value
    Fraction(3, 4)
    >>> final_rational("no idea").reason
    'no number in the answer'
    """
    matches = _RATIONAL.findall(text.replace(",", ""))
    if not matches:
        return Parsed(value=None, reason="no number in the answer")
    value = to_fraction(matches[-1])
    if value is None:
        why = overlong_number(matches[-1]) or "not a number"
        return Parsed(value=None, reason=f"{why}: {matches[-1][:40]!r}")
    return Parsed(value=value, reason=None)
