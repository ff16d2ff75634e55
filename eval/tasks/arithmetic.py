"""Arithmetic (mathematics_dataset ``arithmetic__mixed``): exact answers, fractions compared as fractions."""

from __future__ import annotations

from metricsft.eval.parsers.answers import final_rational, to_fraction
from metricsft.eval.parsers.bounded import guarded
from metricsft.eval.report import Report
from metricsft.eval.tasks.base import NO_PREDICTION, Task, count_reasons, row_id
from metricsft.templates import Codec


class ArithmeticTask(Task):
    name = "arithmetic"
    max_new_tokens = 64
    rules = {
        "exact_match": "the last rational number in the answer (e.g. '-3/4', '12', '0.5') equals the truth as an "
        "exact Fraction (so '6/8' == '3/4')",
        "strict_exact_match": "the whole answer is the bare value in the family's answer format (codec.parse_answer) "
        "and equals the truth as an exact Fraction",
        "parse_failure_rate": "share of rows with no number in the answer",
    }

    def score_rows(self, rows: list[dict], texts: list[str | None], codec: Codec) -> Report:
        per_row, reasons = [], []
        for index, (row, text) in enumerate(zip(rows, texts)):
            rid = row_id(row, index)
            truth = self.truth(row)
            gold_text = str(truth["answer"]) if truth else self.label(row, rid)
            gold = to_fraction(gold_text.strip())
            if gold is None:
                raise ValueError(f"row {rid!r}: truth {gold_text[:60]!r} is not an exact number or fraction")
            if text is None:
                reasons.append(NO_PREDICTION)
                per_row.append({"id": rid, "gold": gold_text, "predicted": None, "ok": False, "strict_ok": False})
                continue
            lenient = final_rational(text)
            strict = guarded(codec.parse_answer, text.strip())
            strict_value = to_fraction(strict.value) if strict.ok and strict.value is not None else None
            reasons.append(lenient.reason)
            per_row.append({
                "id": rid, "gold": gold_text,
                "predicted": None if lenient.value is None else str(lenient.value),
                "ok": lenient.value == gold, "strict_ok": strict_value == gold,
            })
        n = len(rows) or 1
        metrics = {
            "exact_match": sum(r["ok"] for r in per_row) / n,
            "strict_exact_match": sum(r["strict_ok"] for r in per_row) / n,
            "parse_failure_rate": sum(r is not None for r in reasons) / n,
        }
        return Report(self.name, metrics, {}, count_reasons(reasons), per_row)
