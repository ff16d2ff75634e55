"""GSM8k: grade-school maths word problems, scored with lm-evaluation-harness's two rules plus a numeric compare."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from metricsft.eval.parsers.answers import flexible_extract, numeric_equal, strict_match
from metricsft.eval.parsers.bounded import guarded
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Codec


class GSM8kTask(Task[str]):
    name = "gsm8k"
    max_new_tokens = 512
    rules = {
        "strict_match": "first match of '#### (-?[0-9.,]+)'; ',', '$' and one trailing '.' removed; exact string "
        "compare (lm-evaluation-harness gsm8k strict-match)",
        "flexible_extract": "last match of '(-?[$0-9.,]{2,})|(-?[0-9]+)' anywhere; same normalisation; exact string "
        "compare (lm-evaluation-harness gsm8k flexible-extract)",
        "numeric": "the strict-match answer, or the flexible-extract one when there is no '#### ', compared as exact "
        "numbers (18.00 == 18)",
        "parse_failure_rate": "share of rows without '#### N' (strict-match found nothing)",
    }

    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> str:
        """``meta.truth.answer``, else the reference text: ``#### N`` (a full solution) or a bare number."""
        truth = self.typed_truth(row, rid)
        if truth is not None:
            return truth.answer.replace(",", "")  # type: ignore[union-attr]
        label = self.label(row, rid)
        for parsed in (strict_match(label), guarded(codec.parse_answer, label.strip().replace(",", ""))):
            if parsed.ok:
                return str(parsed.value)
        raise ValueError(f"row {rid!r}: reference {label[:60]!r} has no '#### N' and is not a bare number")

    def parse(self, text: str, gold: str, row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        strict = strict_match(text)
        return (strict, flexible_extract(text)), strict.reason

    def score_one(self, gold: str, value: Any, reason: str | None, row: Mapping[str, Any]) -> dict[str, Any]:
        if value is None:
            return {"gold": gold, "strict": None, "flexible": None, "numeric_ok": False}
        strict, flexible = value
        fallback = strict.value if strict.ok else flexible.value
        return {
            "gold": gold, "strict": strict.value, "flexible": flexible.value,
            "strict_ok": strict.value == gold, "flexible_ok": flexible.value == gold,
            "numeric_ok": numeric_equal(fallback, gold),
        }

    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec, rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        n = len(entries) or 1
        return Aggregate({
            "strict_match": sum(bool(e.get("strict_ok")) for e in entries) / n,
            "flexible_extract": sum(bool(e.get("flexible_ok")) for e in entries) / n,
            "numeric": sum(bool(e["numeric_ok"]) for e in entries) / n,
            "parse_failure_rate": failure_rate,
        })


TASK = GSM8kTask
