"""RewardBench v1 with a generative judge: pairwise verdicts or per-response ratings.

Converted rows carry ``meta.truth = {"pair_id", "subset", "mode", "swap", "better"}``:

* ``mode == "pairwise"``: one row per pair; ``better`` is the position ("A"/"B") that holds the chosen
  answer after the random swap, so comparing the verdict with ``better`` undoes the swap.
* ``mode == "rating"``: one row per response, two rows per ``pair_id``; ``truth.response`` says which one
  ("chosen" or "rejected") the row shows. The pair is right when the chosen rating is strictly higher.
* ``mode == "scores"``: a reward model writing named scores; see ``reward_scores``.

As in RewardBench's own generative script, a pair whose judgement cannot be parsed scores 0.5; the
parse-failure rate is reported next to it so that a judge cannot hide behind unparseable answers.
"""

from __future__ import annotations

from collections import defaultdict

from metricsft.eval.metrics.rewardbench import SECTIONS, pair_outcome, section_scores
from metricsft.eval.parsers.judgements import parse_rating, parse_verdict
from metricsft.eval.report import Report
from metricsft.eval.tasks.base import NO_PREDICTION, Task, count_reasons, row_id
from metricsft.eval.tasks.reward_scores import score_reward_scores
from metricsft.templates import Codec

UNPARSEABLE_SCORE = 0.5


class RewardBenchTask(Task):
    name = "rewardbench"
    max_new_tokens = 512
    rules = {
        **{section: f"accuracy on {', '.join(subsets)}, each weighted by RewardBench's official example count"
           for section, subsets in SECTIONS.items()},
        "Overall": "mean of the section scores present (prior sets are not included)",
        "accuracy": "unweighted share of pairs won; a pair is won only if the chosen answer wins strictly (tie = "
        "wrong); an unparseable judgement scores 0.5 (RewardBench's rule)",
        "parse_failure_rate": "share of judgements with no readable [[A]]/[[B]] verdict or rating",
        "subset/*": "share of the subset's pairs won (same rule as accuracy)",
    }

    def _truth(self, row: dict, rid: str) -> dict:
        truth = self.truth(row)
        if truth is not None:
            return truth
        verdict = parse_verdict(self.label(row, rid))
        if not verdict.ok:
            raise ValueError(
                f"row {rid!r}: no meta.truth and the reference is not a [[A]]/[[B]] verdict; pass the converted "
                "dataset with --data to score ratings or per-subset results"
            )
        return {"pair_id": rid, "subset": "unknown", "mode": "pairwise", "better": verdict.value}

    def score_rows(self, rows: list[dict], texts: list[str | None], codec: Codec) -> Report:
        modes = {(self.truth(row) or {}).get("mode") for row in rows}
        if "scores" in modes:
            if len(modes) > 1:
                raise ValueError(f"rows mix reward-score rows with {sorted(m for m in modes if m != 'scores')} rows; score them separately")
            return score_reward_scores(self.name, rows, texts, codec)
        per_row, reasons = [], []
        pair_subset: dict[str, str] = {}
        pair_score: dict[str, float] = {}
        ratings: dict[str, dict[str, float | None]] = defaultdict(dict)
        for index, (row, text) in enumerate(zip(rows, texts)):
            rid = row_id(row, index)
            truth = self._truth(row, rid)
            pair_id, mode = str(truth["pair_id"]), truth.get("mode", "pairwise")
            pair_subset[pair_id] = str(truth["subset"])
            if mode == "pairwise":
                verdict = parse_verdict(text) if text is not None else None
                reason = NO_PREDICTION if verdict is None else verdict.reason
                if reason is None:
                    pair_score[pair_id] = 1.0 if verdict.value == truth["better"] else 0.0  # type: ignore[union-attr]
                else:
                    pair_score[pair_id] = UNPARSEABLE_SCORE
                per_row.append({
                    "id": rid, "pair_id": pair_id, "subset": pair_subset[pair_id], "swap": truth.get("swap"),
                    "truth_label": f"better={truth['better']}", "pred_label": verdict.value if reason is None else "no answer",
                    "score": pair_score[pair_id], "reason": reason,
                })
            elif mode == "rating":
                which = truth.get("response")
                if which not in ("chosen", "rejected"):
                    raise ValueError(f"row {rid!r}: rating rows need meta.truth.response = 'chosen' or 'rejected'")
                rating = parse_rating(text, codec) if text is not None else None
                reason = NO_PREDICTION if rating is None else rating.reason
                ratings[pair_id][which] = rating.value if reason is None else None  # type: ignore[union-attr]
                per_row.append({"id": rid, "pair_id": pair_id, "subset": pair_subset[pair_id], "response": which,
                                "rating": ratings[pair_id][which], "reason": reason})
            else:
                raise ValueError(f"row {rid!r}: meta.truth.mode must be 'pairwise' or 'rating', got {mode!r}")
            reasons.append(reason)
        incomplete = 0
        for pair_id, got in ratings.items():
            chosen, rejected = got.get("chosen"), got.get("rejected")
            if "chosen" not in got or "rejected" not in got:
                incomplete += 1
            if chosen is None or rejected is None:
                pair_score[pair_id] = UNPARSEABLE_SCORE
                label = "no answer"
            else:
                pair_score[pair_id] = pair_outcome(chosen, rejected)
                label = "chosen wins" if chosen > rejected else "tie" if chosen == rejected else "rejected wins"
            per_row.append({"pair_id": pair_id, "subset": pair_subset[pair_id], "truth_label": "chosen better",
                            "pred_label": label, "score": pair_score[pair_id]})
        by_subset: dict[str, list[float]] = defaultdict(list)
        for pair_id, score in pair_score.items():
            by_subset[pair_subset[pair_id]].append(score)
        subset_accuracy = {name: sum(v) / len(v) for name, v in sorted(by_subset.items())}
        n_pairs = len(pair_score) or 1
        metrics = {
            **section_scores(subset_accuracy),
            "accuracy": sum(pair_score.values()) / n_pairs,
            "parse_failure_rate": sum(r is not None for r in reasons) / (len(rows) or 1),
            **{f"subset/{name}": acc for name, acc in subset_accuracy.items()},
        }
        counts = {"pairs": len(pair_score), "pairs_missing_a_rating": incomplete,
                  **{f"pairs/{name}": len(v) for name, v in sorted(by_subset.items())}}
        return Report(self.name, metrics, counts, count_reasons(reasons), per_row)
