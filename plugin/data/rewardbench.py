"""RewardBench-style data -> generative-judge rows, and score-labelled data -> reward training rows.

Modes (``--mode``; by default chosen from the first record's columns):

* ``pairwise`` (rows with ``prompt``, ``chosen``, ``rejected``, ``subset``): one judge row per
  pair; the two answers are shown as A and B, swapped with probability 1/2 by a generator
  seeded with ``--seed`` and the pair id (so a pair's swap never depends on file order or
  ``--limit``). The assistant turn is the right verdict, ``[[A]]`` or ``[[B]]``;
  ``meta.truth`` records ``swap`` and ``better``.
* ``rating``: two rows per pair, each asking for a 1..10 rating of one answer; there is no
  gold rating, so the assistant turn is empty and scoring compares the two ratings.
* ``scores`` (rows with ``prompt``, ``response`` and HelpSteer attributes ``helpfulness``,
  ``correctness``, ``coherence``, ``complexity``, ``verbosity`` in 0..4, or one overall
  ``score`` in 0..20): training rows whose answer is the scores (DIST2Loss's reward setup).

    metricsft data convert rewardbench --src filtered.parquet --format llama --out data --seed 0
"""

from __future__ import annotations

import random
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from metricsft.templates import Codec
from metricsft.templates.rows import PairTruth, ScoresTruth

from .common import ConversionError, ConvertOptions, Converter, Invalid, TrainingExample, make_row
from .readers import iter_records

HELPSTEER_ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
ATTRIBUTE_RANGE = (0, 4)
OVERALL_RANGE = (0, 20)
RATING_RANGE = (1, 10)
MODES = ("pairwise", "rating", "scores")


@dataclass
class RewardBenchOptions(ConvertOptions):
    mode: str = field(default="auto", metadata={"help": "pairwise, rating, scores or auto (from the first record's columns)"})
    seed: int = field(default=0, metadata={"help": "seed of the A/B position swaps"})

    def name_parts(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        # files of different modes must not overwrite each other; "auto" names the mode it resolved to
        mode = self.mode if self.mode != "auto" or not rows else rows[0]["meta"]["truth"]["mode"]
        return [] if mode == "auto" else [mode]


def position_swap(seed: int, pair_id: str) -> bool:
    """Whether pair ``pair_id`` shows the rejected answer first; reproducible per (seed, pair).

    >>> position_swap(0, "42") == position_swap(0, "42")
    True
    """
    return random.Random(f"{seed}/{pair_id}").random() < 0.5


def _mode(options: RewardBenchOptions, record: dict[str, Any]) -> str:
    if options.mode != "auto":
        if options.mode not in MODES:
            raise ConversionError(f"rewardbench --mode must be auto or one of {', '.join(MODES)}, got {options.mode!r}")
        return options.mode
    if "chosen" in record and "rejected" in record:
        return "pairwise"
    if "response" in record:
        return "scores"
    raise ConversionError(f"cannot tell the rewardbench mode from the columns {sorted(record)}; pass --mode")


def _text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _pair_rows(where: str, index: int, record: dict[str, Any], mode: str, options: RewardBenchOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    prompt, chosen, rejected, subset = (_text(record, k) for k in ("prompt", "chosen", "rejected", "subset"))
    if None in (prompt, chosen, rejected, subset):
        yield Invalid(where, "malformed row", "a pair needs non-empty string fields prompt, chosen, rejected and subset")
        return
    pair_id = str(record["id"]) if record.get("id") is not None else str(index)
    if mode == "pairwise":
        swap = position_swap(options.seed, pair_id)
        first, second = (rejected, chosen) if swap else (chosen, rejected)
        better = "B" if swap else "A"
        yield make_row(
            row_id=f"rewardbench/pairwise/{pair_id}", codec=codec, task="rewardbench", split=subset,
            prompt=codec.prompt("rewardbench_pairwise", prompt=prompt, response_a=first, response_b=second),
            answer=f"[[{better}]]", truth=PairTruth(pair_id, subset, mode, swap, better),
        )
        return
    low, high = RATING_RANGE
    for which, response in (("chosen", chosen), ("rejected", rejected)):
        yield make_row(
            row_id=f"rewardbench/rating/{pair_id}/{which}", codec=codec, task="rewardbench", split=subset,
            prompt=codec.prompt("rewardbench_rating", prompt=prompt, response=response, low=low, high=high),
            answer="", truth=PairTruth(pair_id, subset, mode, False, None, which),
        )


def _score_row(where: str, index: int, record: dict[str, Any], options: RewardBenchOptions, codec: Codec) -> dict[str, Any] | Invalid:
    prompt, response = _text(record, "prompt"), _text(record, "response")
    if prompt is None or response is None:
        return Invalid(where, "malformed row", "a scored row needs non-empty string fields prompt and response")
    attributes = [a for a in HELPSTEER_ATTRIBUTES if a in record]
    if attributes:
        (low, high), names = ATTRIBUTE_RANGE, attributes
    elif "score" in record:
        (low, high), names = OVERALL_RANGE, ["score"]
    else:
        return Invalid(where, "malformed row", f"no score columns (HelpSteer attributes {', '.join(HELPSTEER_ATTRIBUTES)} or 'score')")
    scores: dict[str, int | float] = {}
    for name in names:
        value = record[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return Invalid(where, "malformed row", f"{name!r} must be a number, got {value!r}")
        if not low <= value <= high:
            return Invalid(where, "score out of range", f"{name}={value} is outside {low}..{high}")
        scores[name] = int(value) if float(value).is_integer() else float(value)
    split = options.split or "train"
    row_id = str(record["id"]) if record.get("id") is not None else str(index)
    if names == ["score"]:
        prompt_text = codec.prompt("reward_score", prompt=prompt, response=response, low=low, high=high)
        answer = codec.format_scores(scores["score"])
    else:
        prompt_text = codec.prompt("reward_scores", prompt=prompt, response=response, low=low, high=high, attributes=", ".join(names))
        answer = codec.format_scores(scores)
    return make_row(
        row_id=f"rewardbench/scores/{row_id}", codec=codec, task="rewardbench", split=split,
        prompt=prompt_text, answer=answer, truth=ScoresTruth(scores, (low, high)),
    )


def convert(options: RewardBenchOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    mode: str | None = None
    for index, (where, record) in enumerate(iter_records(Path(options.src))):
        if isinstance(record, Invalid):
            yield record
            continue
        if mode is None:
            # resolve "auto" once, from the first record; the dataset name includes the mode
            mode = _mode(options, record)
        if mode == "scores":
            yield _score_row(where, index, record, options, codec)
        else:
            yield from _pair_rows(where, index, record, mode, options, codec)


CONVERTER = Converter(RewardBenchOptions, convert, TrainingExample(
    "reward scores (HelpSteer attributes 0-4), the DIST2Loss reward-model setup", "--src helpsteer2_train.jsonl --mode scores",
    "'name: value' scores (e.g. helpfulness: 3, correctness: 4)",
))
