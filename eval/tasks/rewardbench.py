"""RewardBench v1 with a generative judge: pairwise verdicts or per-response ratings.

Converted rows carry ``meta.truth = {"pair_id", "subset", "mode", "swap", "better"}``:

* ``mode == "pairwise"``: one row per pair; ``better`` is the position ("A"/"B") that holds the chosen
  answer after the random swap, so comparing the verdict with ``better`` undoes the swap.
* ``mode == "rating"``: one row per response, two rows per ``pair_id``; ``truth.response`` says which one
  ("chosen" or "rejected") the row shows. The pair is right when the chosen rating is strictly higher.
* ``mode == "scores"``: a reward model writing named scores; see ``reward_scores``.

``judge_rules`` picks how verdicts are read and what a tie scores (``metricsft score --judge-rules``):

* ``"official"`` (default, comparable with published numbers): RewardBench's generative script —
  ``[[A]]`` anywhere wins over ``[[B]]``; a tie verdict ``[[C]]`` and equal ratings score 0.5;
* ``"strict"``: exactly one distinct verdict must appear (``[[A]] ... [[B]]`` is a parse failure) and
  a tie scores 0 (chosen must win strictly).

Under both, a pair whose judgement cannot be parsed scores 0.5 (RewardBench's rule); the parse-failure
rate is reported next to it so that a judge cannot hide behind unparseable answers.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

from metricsft.eval.metrics.rewardbench import (
    JUDGE_RULES,
    SECTIONS,
    TIE_SCORE,
    UNPARSEABLE_SCORE,
    pair_outcome,
    section_scores,
    verdict_outcome,
)
from metricsft.eval.parsers.judgements import official_verdict, parse_rating, parse_verdict
from metricsft.eval.report import CONFUSION, Report
from metricsft.eval.tasks.base import Aggregate, Task, row_id
from metricsft.eval.tasks.reward_scores import RewardScoresTask
from metricsft.templates import Codec
from metricsft.templates.rows import PairTruth

_ACCURACY_RULE = {
    "official": "unweighted share of pairs won (RewardBench's generative rules): a pairwise verdict is [[A]] if "
    "the answer contains '[[A]]' anywhere, else [[B]] if it contains '[[B]]'; a tie ([[C]] or equal ratings) "
    "scores 0.5; an unparseable judgement scores 0.5",
    "strict": "unweighted share of pairs won (strict rules): exactly one distinct verdict must appear ([[A]] and "
    "[[B]] together = unparseable); a tie ([[C]] or equal ratings) scores 0 (chosen must win strictly); an "
    "unparseable judgement scores 0.5",
}


class RewardBenchTask(Task[PairTruth]):
    name = "rewardbench"
    max_new_tokens = 512
    #: "official" (RewardBench's generative script) or "strict"; see the module docstring
    judge_rules: str = "official"
    rules = {
        **{section: f"accuracy on {', '.join(subsets)}, each weighted by RewardBench's official example count"
           for section, subsets in SECTIONS.items()},
        "Overall": "mean of the section scores present (prior sets are not included)",
        "accuracy": _ACCURACY_RULE["official"],
        "parse_failure_rate": "share of judgements with no readable [[A]]/[[B]] verdict or rating",
        "subset/*": "share of the subset's pairs won (same rule as accuracy)",
        "tie_rate": "share of pairs judged a tie ([[C]] or equal ratings); how ties score is in the accuracy rule",
    }

    plots = (CONFUSION,)

    def score_rows(self, rows: list[dict], texts: list[str | None], codec: Codec) -> Report:
        if self.judge_rules not in JUDGE_RULES:
            raise ValueError(f"judge_rules must be one of {', '.join(JUDGE_RULES)}, got {self.judge_rules!r}")
        modes = {getattr(self.typed_truth(row, row_id(row, index)), "mode", None) for index, row in enumerate(rows)}
        if "scores" in modes:
            if len(modes) > 1:
                raise ValueError(f"rows mix reward-score rows with {sorted(str(m) for m in modes if m != 'scores')} rows; score them separately")
            return RewardScoresTask().score_rows(rows, texts, codec)
        return super().score_rows(rows, texts, codec)

    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> PairTruth:
        truth = self.typed_truth(row, rid)
        if truth is not None:
            return truth  # type: ignore[return-value]
        verdict = parse_verdict(self.label(row, rid))
        if not verdict.ok:
            raise ValueError(
                f"row {rid!r}: no meta.truth and the reference is not a [[A]]/[[B]] verdict; pass the converted "
                "dataset with --data to score ratings or per-subset results"
            )
        return PairTruth(pair_id=rid, subset="unknown", mode="pairwise", swap=None, better=verdict.value)

    def parse(self, text: str, gold: PairTruth, row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        if gold.mode == "rating":
            parsed = parse_rating(text, codec)
        else:
            parsed = (official_verdict if self.judge_rules == "official" else parse_verdict)(text)
        return parsed.value, parsed.reason

    def score_one(self, gold: PairTruth, value: Any, reason: str | None, row: Mapping[str, Any]) -> dict[str, Any]:
        base = {"pair_id": gold.pair_id, "subset": gold.subset}
        if gold.mode == "rating":
            return {**base, "response": gold.response, "rating": value if reason is None else None, "reason": reason}
        score = verdict_outcome(value if reason is None else None, gold.better, TIE_SCORE[self.judge_rules])
        return {
            **base, "swap": gold.swap, "truth_label": f"better={gold.better}",
            "pred_label": value if reason is None else "no answer", "score": score, "reason": reason,
            "_tie": reason is None and value == "tie",
        }

    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec, rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        pair_subset: dict[str, str] = {}
        pair_score: dict[str, float] = {}
        ratings: dict[str, dict[str, float | None]] = defaultdict(dict)
        ties = 0
        for entry in entries:
            pair_id = entry["pair_id"]
            pair_subset[pair_id] = entry["subset"]
            if "score" in entry:  # a pairwise verdict decides its pair alone
                pair_score[pair_id] = entry["score"]
                ties += entry["_tie"]
            else:  # a rating row: the pair is decided by both ratings, below
                ratings[pair_id][entry["response"]] = entry["rating"]
        incomplete = 0
        pair_rows = []
        for pair_id, got in ratings.items():
            chosen, rejected = got.get("chosen"), got.get("rejected")
            if "chosen" not in got or "rejected" not in got:
                incomplete += 1
            if chosen is None or rejected is None:
                pair_score[pair_id] = UNPARSEABLE_SCORE
                label = "no answer"
            else:
                pair_score[pair_id] = pair_outcome(chosen, rejected, tie=TIE_SCORE[self.judge_rules])
                ties += chosen == rejected
                label = "chosen wins" if chosen > rejected else "tie" if chosen == rejected else "rejected wins"
            pair_rows.append({"pair_id": pair_id, "subset": pair_subset[pair_id], "truth_label": "chosen better",
                              "pred_label": label, "score": pair_score[pair_id]})
        by_subset: dict[str, list[float]] = defaultdict(list)
        for pair_id, score in pair_score.items():
            by_subset[pair_subset[pair_id]].append(score)
        subset_accuracy = {name: sum(v) / len(v) for name, v in sorted(by_subset.items())}
        n_pairs = len(pair_score) or 1
        metrics = {
            **section_scores(subset_accuracy),
            "accuracy": sum(pair_score.values()) / n_pairs,
            "parse_failure_rate": failure_rate,
            "tie_rate": ties / n_pairs,
            **{f"subset/{name}": acc for name, acc in subset_accuracy.items()},
        }
        counts = {"pairs": len(pair_score), "pairs_missing_a_rating": incomplete,
                  **{f"pairs/{name}": len(v) for name, v in sorted(by_subset.items())}}
        return Aggregate(metrics, counts, pair_rows, {"accuracy": _ACCURACY_RULE[self.judge_rules]})


TASK = RewardBenchTask
