"""Arithmetic (mathematics_dataset ``arithmetic__mixed``): exact answers, fractions compared as fractions."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Mapping, Sequence

from metricsft.eval.parsers.answers import final_rational, to_fraction
from metricsft.eval.parsers.bounded import guarded
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Codec


class ArithmeticTask(Task[tuple[str, Fraction]]):
    name = "arithmetic"
    max_new_tokens = 64
    rules = {
        "exact_match": "the last rational number in the answer (e.g. '-3/4', '12', '0.5') equals the truth as an "
        "exact Fraction (so '6/8' == '3/4')",
        "strict_exact_match": "the whole answer is the bare value in the family's answer format (codec.parse_answer) "
        "and equals the truth as an exact Fraction",
        "parse_failure_rate": "share of rows with no number in the answer",
    }

    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> tuple[str, Fraction]:
        """The truth as written and as an exact Fraction."""
        truth = self.typed_truth(row, rid)
        text = truth.answer if truth is not None else self.label(row, rid)  # type: ignore[union-attr]
        value = to_fraction(text.strip())
        if value is None:
            raise ValueError(f"row {rid!r}: truth {text[:60]!r} is not an exact number or fraction")
        return text, value

    def parse(self, text: str, gold: tuple[str, Fraction], row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        lenient = final_rational(text)
        strict = guarded(codec.parse_answer, text.strip())
        strict_value = to_fraction(strict.value) if strict.ok and strict.value is not None else None
        return (lenient.value, strict_value), lenient.reason

    def score_one(self, gold: tuple[str, Fraction], value: Any, reason: str | None, row: Mapping[str, Any]) -> dict[str, Any]:
        gold_text, gold_value = gold
        lenient, strict = value if value is not None else (None, None)
        return {
            "gold": gold_text, "predicted": None if lenient is None else str(lenient),
            "ok": lenient is not None and lenient == gold_value, "strict_ok": strict is not None and strict == gold_value,
        }

    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec, rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        n = len(entries) or 1
        return Aggregate({
            "exact_match": sum(e["ok"] for e in entries) / n,
            "strict_exact_match": sum(e["strict_ok"] for e in entries) / n,
            "parse_failure_rate": failure_rate,
        })


TASK = ArithmeticTask
