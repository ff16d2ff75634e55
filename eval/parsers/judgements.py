"""Reward-model judgements: pairwise verdicts ``[[A]]`` / ``[[B]]``, ratings and named sub-scores."""

from __future__ import annotations

import re

from metricsft.eval.parsers.bounded import overlong_number
from metricsft.templates.base import NUMBER_RE, Codec, Parsed

_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")
_BRACKETED_NUMBER = re.compile(rf"\[\[\s*({NUMBER_RE})\s*\]\]")
# "Rating: 7", "score = 8.5", "Score: 7/10"
_LABELLED_NUMBER = re.compile(rf"(?i)\b(?:rating|score)\s*[:=]?\s*\**\s*({NUMBER_RE})")
# "helpfulness: 3", "Correctness = 4.5" (names up to 40 word characters/spaces/dashes)
_NAMED_SCORE = re.compile(rf"([A-Za-z][\w\- ]{{0,40}}?)\s*[:=]\s*\**\s*({NUMBER_RE})")
_ANY_NUMBER = re.compile(rf"(?<![\w.]){NUMBER_RE}(?!\w|\.\d)")


def official_verdict(text: str) -> Parsed[str]:
    """RewardBench's own reading of a pairwise judgement (``process_judgement`` in
    allenai/reward-bench ``rewardbench/generative.py``): ``"A"`` if the text contains ``[[A]]`` anywhere,
    else ``"B"`` if it contains ``[[B]]``, else no verdict. The test order, not the position in the
    text, decides: ``[[B]] ... [[A]]`` reads as A. ``[[C]]`` (MT-Bench's tie), which the official
    code treats as an error, is returned as ``"tie"`` so that it is counted as a tie, not as a parse
    failure; both score 0.5 there.

    >>> official_verdict("[[B]] at first, but on reflection [[A]]").value
    'A'
    >>> official_verdict("Both are equally good. [[C]]").value
    'tie'
    >>> official_verdict("[[ A ]]").reason
    'no [[A]] / [[B]] verdict in the answer'
    """
    for verdict in ("A", "B"):
        if f"[[{verdict}]]" in text:
            return Parsed.success(verdict)
    if "[[C]]" in text:
        return Parsed.success("tie")
    return Parsed.failure("no [[A]] / [[B]] verdict in the answer")


def parse_verdict(text: str) -> Parsed[str]:
    """``"A"``, ``"B"`` or ``"tie"`` (``[[C]]``, MT-Bench's tie verdict) from a pairwise judgement.

    The strict reading (``--judge-rules strict``): exactly one distinct verdict must appear; a judgement
    naming both A and B is ambiguous and is a parse failure (RewardBench's own script takes ``[[A]]``
    whenever it appears, see ``official_verdict``, which favours A).

    >>> parse_verdict("Assistant B is more accurate. [[B]]").value
    'B'
    >>> parse_verdict("[[A]] or maybe [[B]]").reason
    'ambiguous: several verdicts [[A]], [[B]]'
    """
    verdicts = sorted(set(_VERDICT.findall(text)))
    if not verdicts:
        return Parsed.failure("no [[A]] / [[B]] verdict in the answer")
    if len(verdicts) > 1:
        return Parsed.failure("ambiguous: several verdicts " + ", ".join(f"[[{v}]]" for v in verdicts))
    return Parsed.success("tie" if verdicts[0] == "C" else verdicts[0])


def parse_named_scores(text: str, codec: Codec | None = None) -> Parsed[dict[str, float]]:
    """Scores as ``{name: value}``; a single score is ``{"score": value}``.

    The codec's strict form is tried first; then ``name: value`` pairs inside prose; then one
    ``[[N]]`` / ``Rating: N`` / a lone number.

    >>> parse_named_scores("Helpfulness: 4\\nCorrectness: 3.5").value
    {'Helpfulness': 4.0, 'Correctness': 3.5}
    >>> parse_named_scores("I'd give it [[7]].").value
    {'score': 7.0}
    """
    too_long = overlong_number(text)
    if too_long:  # float() would read it as inf
        return Parsed.failure(too_long)
    if codec is not None:
        strict = codec.parse_scores(text)
        if strict.ok:
            return strict
    rating = parse_rating(text)
    if rating.ok:
        return Parsed.success({"score": rating.value})  # type: ignore[dict-item]
    named: dict[str, float] = {}
    for name, value in _NAMED_SCORE.findall(text):
        name = name.strip()
        if name in named and named[name] != float(value):
            return Parsed.failure(f"score {name!r} is given twice with different values")
        named[name] = float(value)
    if named:
        return Parsed.success(named)
    return Parsed.failure(rating.reason or "no score in the answer")


def parse_rating(text: str, codec: Codec | None = None) -> Parsed[float]:
    """One numeric rating: ``[[7]]`` (MT-Bench style) first, then ``Rating: 7`` / ``Score: 7/10``,
    then the text's only number. Several candidates that disagree are a failure, not a guess.

    >>> parse_rating("Rating: [[8]]").value
    8.0
    >>> parse_rating("between 3 and 4").reason
    'ambiguous: several numbers (3, 4) and no [[N]] or "Rating: N"'
    """
    too_long = overlong_number(text)
    if too_long:  # float() would read it as inf
        return Parsed.failure(too_long)
    if codec is not None:
        strict = codec.parse_scores(text)
        if strict.ok and strict.value and len(strict.value) == 1:
            return Parsed.success(next(iter(strict.value.values())))
    for pattern in (_BRACKETED_NUMBER, _LABELLED_NUMBER):
        values = {float(v) for v in pattern.findall(text)}
        if len(values) == 1:
            return Parsed.success(values.pop())
        if len(values) > 1:
            return Parsed.failure(f"ambiguous: several ratings {sorted(values)}")
    numbers = _ANY_NUMBER.findall(text)
    if len(numbers) == 1:
        return Parsed.success(float(numbers[0]))
    if not numbers:
        return Parsed.failure("no rating in the answer")
    shown = ", ".join(numbers[:5])
    return Parsed.failure(f'ambiguous: several numbers ({shown}) and no [[N]] or "Rating: N"')
