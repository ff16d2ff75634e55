"""Reward scores (HelpSteer-style named attributes or one overall score) against their labelled values.

These rows come from ``metricsft data convert rewardbench --mode scores`` (``meta.truth = {"mode": "scores",
"scores": {name: value}, "range": [low, high]}``): a reward model trained to WRITE its scores, as in
DIST2Loss's reward setup. Each attribute is compared on its own; the confusion matrix of true vs
predicted values shows whether misses are near misses.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

from metricsft.eval.parsers.judgements import parse_named_scores
from metricsft.eval.report import CONFUSION
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Codec
from metricsft.templates.rows import ScoresTruth

RULES = {
    "exact_accuracy": "share of (row, attribute) pairs whose predicted value equals the label; a missing or "
    "unparseable attribute is wrong",
    "mae": "mean |predicted - label| over the attributes that were predicted",
    "mae/*": "the same, per attribute",
    "parse_failure_rate": "share of rows whose answer lacked at least one labelled attribute",
}



def _label(value: float) -> str:
    return f"{value:g}"


class RewardScoresTask(Task[dict[str, float]]):
    """Rows whose truth is ``{"mode": "scores", "scores": {...}}``; ``RewardBenchTask`` hands them here."""

    name = "rewardbench"
    rules = RULES
    plots = (CONFUSION,)

    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> dict[str, float]:
        truth = self.typed_truth(row, rid)
        if not isinstance(truth, ScoresTruth):
            raise ValueError(f"row {rid!r}: meta.truth.scores is missing or empty")
        return {name: float(value) for name, value in truth.scores.items()}

    def parse(self, text: str, gold: dict[str, float], row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        parsed = parse_named_scores(text, codec)
        got = {name.strip().lower(): value for name, value in (parsed.value or {}).items()} if parsed.ok else {}
        missing = [name for name in gold if name.lower() not in got]
        if parsed.ok and missing:
            return got, f"missing attribute(s) {', '.join(missing)}"
        return got, parsed.reason

    def score_one(self, gold: dict[str, float], value: Any, reason: str | None, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        got = value or {}
        entries = []
        for name, truth in gold.items():
            predicted = got.get(name.lower())
            entries.append({
                "attribute": name, "truth": truth, "predicted": predicted,
                "truth_label": _label(truth), "pred_label": "no answer" if predicted is None else _label(predicted),
            })
        return entries

    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec, rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        errors: dict[str, list[float]] = defaultdict(list)
        for entry in entries:
            if entry["predicted"] is not None:
                errors[entry["attribute"]].append(abs(entry["predicted"] - entry["truth"]))
        all_errors = [e for values in errors.values() for e in values]
        total = len(entries)
        metrics = {
            "exact_accuracy": sum(e["predicted"] == e["truth"] for e in entries) / total if total else 0.0,
            "mae": sum(all_errors) / len(all_errors) if all_errors else float("nan"),
            **{f"mae/{name}": sum(v) / len(v) for name, v in sorted(errors.items())},
            "parse_failure_rate": failure_rate,
        }
        return Aggregate(metrics, {"attribute_values": total}, rules=dict(RULES))
