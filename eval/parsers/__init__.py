"""Lenient readers of model output, built on the family codecs; none of them raises on model text.

    >>> from metricsft.eval.parsers import strict_match, parse_clock_time, parse_verdict
    >>> strict_match("... so she makes 18 dollars.\\n#### 18").value
    '18'
    >>> parse_clock_time("The clock reads 2_55").value
    (2, 55)
    >>> parse_verdict("[[B]]").value
    'B'
"""

from metricsft.eval.parsers.answers import (
    final_rational,
    flexible_extract,
    normalize_answer,
    numeric_equal,
    strict_match,
    to_fraction,
)
from metricsft.eval.parsers.clock import parse_clock_time
from metricsft.eval.parsers.geometry import parse_boxes, parse_polygons
from metricsft.eval.parsers.judgements import official_verdict, parse_named_scores, parse_rating, parse_verdict

__all__ = [
    "final_rational",
    "flexible_extract",
    "normalize_answer",
    "numeric_equal",
    "official_verdict",
    "parse_boxes",
    "parse_clock_time",
    "parse_named_scores",
    "parse_polygons",
    "parse_rating",
    "parse_verdict",
    "strict_match",
    "to_fraction",
]
