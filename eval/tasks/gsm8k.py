"""GSM8k: grade-school maths word problems, scored with lm-evaluation-harness's two rules plus a numeric compare."""

from __future__ import annotations

from metricsft.eval.parsers.answers import flexible_extract, numeric_equal, strict_match
from metricsft.eval.parsers.bounded import guarded
from metricsft.eval.report import Report
from metricsft.eval.tasks.base import NO_PREDICTION, Task, count_reasons, row_id
from metricsft.templates import Codec


def gold_answer(row: dict, codec: Codec, rid: str) -> str:
    """``meta.truth.answer``, else the reference text: ``#### N`` (a full solution) or a bare number."""
    truth = Task.truth(row)
    if truth is not None:
        return str(truth["answer"]).replace(",", "")
    label = Task.label(row, rid)
    for parsed in (strict_match(label), guarded(codec.parse_answer, label.strip().replace(",", ""))):
        if parsed.ok:
            return str(parsed.value)
    raise ValueError(f"row {rid!r}: reference {label[:60]!r} has no '#### N' and is not a bare number")


class GSM8kTask(Task):
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

    def score_rows(self, rows: list[dict], texts: list[str | None], codec: Codec) -> Report:
        per_row, reasons = [], []
        for index, (row, text) in enumerate(zip(rows, texts)):
            rid = row_id(row, index)
            gold = gold_answer(row, codec, rid)
            if text is None:
                reasons.append(NO_PREDICTION)
                per_row.append({"id": rid, "gold": gold, "strict": None, "flexible": None, "numeric_ok": False})
                continue
            strict, flexible = strict_match(text), flexible_extract(text)
            reasons.append(strict.reason)
            fallback = strict.value if strict.ok else flexible.value
            per_row.append({
                "id": rid, "gold": gold, "strict": strict.value, "flexible": flexible.value,
                "strict_ok": strict.value == gold, "flexible_ok": flexible.value == gold,
                "numeric_ok": numeric_equal(fallback, gold),
            })
        n = len(rows) or 1
        metrics = {
            "strict_match": sum(bool(r.get("strict_ok")) for r in per_row) / n,
            "flexible_extract": sum(bool(r.get("flexible_ok")) for r in per_row) / n,
            "numeric": sum(bool(r["numeric_ok"]) for r in per_row) / n,
            "parse_failure_rate": sum(r is not None for r in reasons) / n,
        }
        return Report(self.name, metrics, {}, count_reasons(reasons), per_row)
