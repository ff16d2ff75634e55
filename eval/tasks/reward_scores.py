"""Reward scores (HelpSteer-style named attributes or one overall score) against their labelled values.

These rows come from ``metricsft data convert rewardbench --mode scores`` (``meta.truth = {"mode": "scores",
"scores": {name: value}, "range": [low, high]}``): a reward model trained to WRITE its scores, as in
DIST2Loss's reward setup. Each attribute is compared on its own; the confusion matrix of true vs
predicted values shows whether misses are near misses.
"""

from __future__ import annotations

from collections import defaultdict

from metricsft.eval.parsers.judgements import parse_named_scores
from metricsft.eval.report import Report
from metricsft.eval.tasks.base import NO_PREDICTION, Task, count_reasons, row_id
from metricsft.templates import Codec

RULES = {
    "exact_accuracy": "share of (row, attribute) pairs whose predicted value equals the label; a missing or "
    "unparseable attribute is wrong",
    "mae": "mean |predicted - label| over the attributes that were predicted",
    "mae/*": "the same, per attribute",
    "parse_failure_rate": "share of rows whose answer lacked at least one labelled attribute",
}


def _label(value: float) -> str:
    return f"{value:g}"


def score_reward_scores(task_name: str, rows: list[dict], texts: list[str | None], codec: Codec) -> Report:
    """Score rows whose truth is ``{"mode": "scores", "scores": {...}}``."""
    per_row, reasons = [], []
    errors: dict[str, list[float]] = defaultdict(list)
    exact = total = 0
    for index, (row, text) in enumerate(zip(rows, texts)):
        rid = row_id(row, index)
        truth = Task.truth(row) or {}
        expected = {str(k): float(v) for k, v in (truth.get("scores") or {}).items()}
        if not expected:
            raise ValueError(f"row {rid!r}: meta.truth.scores is missing or empty")
        parsed = parse_named_scores(text, codec) if text is not None else None
        got = parsed.value if parsed is not None and parsed.ok else {}
        got = {name.strip().lower(): value for name, value in (got or {}).items()}
        missing = [name for name in expected if name.lower() not in got]
        reason = NO_PREDICTION if parsed is None else parsed.reason
        if reason is None and missing:
            reason = f"missing attribute(s) {', '.join(missing)}"
        reasons.append(reason)
        for name, value in expected.items():
            predicted = got.get(name.lower())
            total += 1
            if predicted is not None:
                errors[name].append(abs(predicted - value))
                exact += predicted == value
            per_row.append({
                "id": rid, "attribute": name, "truth": value, "predicted": predicted,
                "truth_label": _label(value), "pred_label": "no answer" if predicted is None else _label(predicted),
            })
    all_errors = [e for values in errors.values() for e in values]
    metrics = {
        "exact_accuracy": exact / total if total else 0.0,
        "mae": sum(all_errors) / len(all_errors) if all_errors else float("nan"),
        **{f"mae/{name}": sum(v) / len(v) for name, v in sorted(errors.items())},
        "parse_failure_rate": sum(r is not None for r in reasons) / (len(rows) or 1),
    }
    return Report(task_name, metrics, {"attribute_values": total}, count_reasons(reasons), per_row, dict(RULES))
