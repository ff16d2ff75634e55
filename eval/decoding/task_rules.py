"""Which decision rule each task uses, and how one row's N sampled answers become the answer scored.

Every rule parses each sample with the task's own parser, drops the samples that do not parse,
applies a decision rule from `rules.py` to the rest and returns a `Decision`: the text the task
then scores exactly as it scores a greedy answer (a sample when the rule picks one, else the chosen
value written by the family codec). A row where no sample parses keeps its first sample as the
answer, so the task counts it as a parse failure with the usual reason.

    >>> from metricsft.templates import get_codec
    >>> decide = mbr_rule("gsm8k")[1]
    >>> decide(["#### 7", "#### 8", "so 7 it is\\n#### 7", "no idea"], {}, get_codec("llama")).value
    '7'

Defaults are the Bayes-optimal rule for each task's headline metric: gsm8k and arithmetic score
exact matches, for which the mode (majority vote, "self-consistency") is optimal; `median` is offered
for absolute-error use of the same numbers. Polygons (textdet) are not supported: an answer is a set
of regions, and choosing among sets needs a region matching across samples that is not built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Sequence

from metricsft.eval.decoding import rules
from metricsft.eval.metrics.clock import DIAL_MINUTES, minutes_on_dial
from metricsft.eval.parsers.answers import final_rational, flexible_extract, strict_match, to_fraction
from metricsft.eval.parsers.clock import parse_clock_time
from metricsft.eval.parsers.geometry import parse_boxes
from metricsft.eval.parsers.judgements import official_verdict, parse_named_scores, parse_rating, parse_verdict
from metricsft.eval.tasks.base import Task
from metricsft.templates import Box, Codec
from metricsft.templates.base import format_number


@dataclass
class Decision:
    """The answer MBR decoding chose for one row.

    ``text`` is what the task scores; ``chosen_sample`` is the index of the sample it came from (None
    when the rule's value is not one of the samples and the codec wrote it); ``value`` is the chosen
    value in JSON form (None when no sample parsed); ``spread`` says how much the samples disagree.
    """

    text: str
    value: Any
    parsed: int
    chosen_sample: int | None
    spread: dict[str, Any] = field(default_factory=dict)


RowRule = Callable[[Sequence[str], dict, Codec], Decision]


def _pick(samples: Sequence[str], parse: Callable[[str], Any], choose: Callable[[list[Any]], int],
          show: Callable[[Any], Any], spread: Callable[[list[Any], int], dict[str, Any]]) -> Decision:
    """Parse every sample, drop failures, answer with the sample the rule chooses."""
    kept = [(index, value) for index, value in ((i, parse(text)) for i, text in enumerate(samples)) if value is not None]
    if not kept:
        return Decision(samples[0] if samples else "", None, 0, None)
    values = [value for _, value in kept]
    chosen = choose(values)
    index = kept[chosen][0]
    return Decision(samples[index], show(values[chosen]), len(values), index, spread(values, chosen))


# -- numbers ---------------------------------------------------------------------------------------

def _gsm8k_number(text: str) -> Fraction | None:
    """The number the gsm8k task's ``numeric`` metric reads: '#### N', else the last number."""
    strict = strict_match(text)
    answer = strict if strict.ok else flexible_extract(text)
    return to_fraction(answer.value) if answer.ok and answer.value is not None else None


def _arithmetic_number(text: str) -> Fraction | None:
    parsed = final_rational(text)
    return parsed.value if parsed.ok else None


def _number_spread(values: list[Fraction], chosen: int) -> dict[str, Any]:
    return {"iqr": rules.interquartile_range([float(v) for v in values]),
            "agreement": rules.agreement(values, chosen)}


def _numbers(parse: Callable[[str], Fraction | None], choose: Callable[[list[Any]], int]) -> RowRule:
    return lambda samples, row, codec: _pick(samples, parse, choose, format_number, _number_spread)


# -- clock -----------------------------------------------------------------------------------------

def _clock(samples: Sequence[str], row: dict, codec: Codec) -> Decision:
    def parse(text: str) -> tuple[int, int] | None:
        parsed = parse_clock_time(text, codec)
        return parsed.value if parsed.ok else None

    def choose(times: list[tuple[int, int]]) -> int:
        return rules.circular_median([minutes_on_dial(*t) for t in times], DIAL_MINUTES)

    def spread(times: list[tuple[int, int]], chosen: int) -> dict[str, Any]:
        positions = [minutes_on_dial(*t) for t in times]
        return {"mean_gap_minutes": rules.mean_circular_distance(positions, positions[chosen], DIAL_MINUTES)}

    return _pick(samples, parse, choose, lambda t: "%d:%02d" % t, spread)


# -- boxes -----------------------------------------------------------------------------------------

def _first_boxes(samples: Sequence[str], row: dict, codec: Codec) -> list[tuple[int, Box]]:
    """(sample index, first box) of every sample with a readable box; the task scores the first box."""
    image = Task.image_info(row)
    found = []
    for index, text in enumerate(samples):
        parsed = parse_boxes(text, codec, image)
        if parsed.ok and parsed.value:
            found.append((index, parsed.value[0]))
    return found


def _box_spread(boxes: list[tuple[float, ...]]) -> dict[str, Any]:
    return {"mean_pairwise_iou": rules.mean_pairwise_iou(boxes)}


def _box_medoid(samples: Sequence[str], row: dict, codec: Codec) -> Decision:
    found = _first_boxes(samples, row, codec)
    if not found:
        return Decision(samples[0] if samples else "", None, 0, None)
    coords = [box.coords() for _, box in found]
    chosen = rules.box_medoid(coords)
    return Decision(samples[found[chosen][0]], list(coords[chosen]), len(found), found[chosen][0], _box_spread(coords))


def _box_coordinate_median(samples: Sequence[str], row: dict, codec: Codec) -> Decision:
    found = _first_boxes(samples, row, codec)
    if not found:
        return Decision(samples[0] if samples else "", None, 0, None)
    coords = [box.coords() for _, box in found]
    median = rules.box_coordinate_median(coords)
    label = found[rules.box_medoid(coords)][1].label  # the phrase, as the most typical sample wrote it
    text = codec.format_boxes([Box(*median, label=label)], Task.image_info(row))
    return Decision(text, list(median), len(found), None, _box_spread(coords))


# -- judgements and scores (RewardBench) -----------------------------------------------------------

def _verdicts(samples: Sequence[str], judge_rules: str) -> Decision:
    """Majority over the verdicts as the task reads them (``judge_rules``: RewardBench's official reading
    by default, or the strict one)."""
    reader = parse_verdict if judge_rules == "strict" else official_verdict

    def parse(text: str) -> str | None:
        parsed = reader(text)
        return parsed.value if parsed.ok else None

    return _pick(samples, parse, rules.majority_vote, str,
                 lambda keys, chosen: {"agreement": rules.agreement(keys, chosen)})


def _ratings(samples: Sequence[str], codec: Codec) -> Decision:
    def parse(text: str) -> float | None:
        parsed = parse_rating(text, codec)
        return parsed.value if parsed.ok else None

    return _pick(samples, parse, rules.lower_median, float,
                 lambda values, chosen: {"iqr": rules.interquartile_range(values)})


def _named_scores(samples: Sequence[str], codec: Codec) -> Decision:
    """Each attribute's median on its own (the per-attribute MAE is what is scored), written by the codec."""
    parsed = [p.value for p in (parse_named_scores(text, codec) for text in samples) if p.ok and p.value]
    if not parsed:
        return Decision(samples[0] if samples else "", None, 0, None)
    by_name: dict[str, list[float]] = {}
    spelling: dict[str, str] = {}
    for scores in parsed:
        for name, value in scores.items():
            spelling.setdefault(name.lower(), name)
            by_name.setdefault(name.lower(), []).append(value)
    chosen = {spelling[key]: values[rules.lower_median(values)] for key, values in by_name.items()}
    spread = {"iqr": {spelling[key]: rules.interquartile_range(values) for key, values in by_name.items()}}
    return Decision(codec.format_scores(chosen), chosen, len(parsed), None, spread)


def _rewardbench(samples: Sequence[str], row: dict, codec: Codec) -> Decision:
    """The rule follows the row's mode: verdicts -> majority, a rating -> median, named scores -> medians."""
    mode = (Task.truth(row) or {}).get("mode", "pairwise")
    if mode == "rating":
        return _ratings(samples, codec)
    if mode == "scores":
        return _named_scores(samples, codec)
    return _verdicts(samples, "official")


def _strict_rewardbench(samples: Sequence[str], row: dict, codec: Codec) -> Decision:
    if (Task.truth(row) or {}).get("mode", "pairwise") == "pairwise":
        return _verdicts(samples, "strict")
    return _rewardbench(samples, row, codec)


# -- registry --------------------------------------------------------------------------------------

#: task -> {rule name: rule}; the first rule is the task's default
MBR_RULES: dict[str, dict[str, RowRule]] = {
    "gsm8k": {"majority": _numbers(_gsm8k_number, rules.majority_vote),
              "median": _numbers(_gsm8k_number, rules.lower_median)},
    "arithmetic": {"majority": _numbers(_arithmetic_number, rules.majority_vote),
                   "median": _numbers(_arithmetic_number, rules.lower_median)},
    "clock": {"circular_median": _clock},
    "refcoco": {"medoid": _box_medoid, "coordinate_median": _box_coordinate_median},
    "rewardbench": {"by_mode": _rewardbench},
}

#: what each rule minimises, written into results so a number can be traced to its rule
RULE_DESCRIPTIONS: dict[str, str] = {
    "majority": "majority vote over the samples' numbers compared as exact values (ties: the value seen first); "
    "Bayes-optimal for exact match",
    "median": "lower median of the samples' numbers; Bayes-optimal for absolute error",
    "circular_median": "circular median on the 12-hour dial (the sample with the least summed time gap to the others)",
    "medoid": "the sample whose first box has the highest mean IoU with the other samples' first boxes",
    "coordinate_median": "the median of each box coordinate over the samples' first boxes, written by the family codec",
    "by_mode": "verdict rows: majority vote; rating rows: lower median; named-score rows: each attribute's lower median",
}

UNSUPPORTED = {
    "textdet": "MBR decoding of textdet is not supported: an answer is a set of polygons, and choosing among sets "
    "needs region matching across samples; evaluate it with --decode greedy",
}


def mbr_rule(task: str, name: str | None = None, judge_rules: str | None = None) -> tuple[str, RowRule]:
    """``(rule name, rule)`` for ``task``: ``name`` or the task's default; errors say what to pass instead.

    ``judge_rules`` (rewardbench's ``--judge-rules``) makes the verdict vote read verdicts as the scorer will.
    """
    if task in UNSUPPORTED:
        raise ValueError(UNSUPPORTED[task])
    if task not in MBR_RULES:
        raise ValueError(f"no MBR decision rule for task {task!r}; tasks with one: {', '.join(MBR_RULES)}")
    choices = MBR_RULES[task]
    name = name or next(iter(choices))
    if name not in choices:
        raise ValueError(f"--mbr-rule {name!r} does not apply to {task}; choose one of: {', '.join(choices)}")
    if task == "rewardbench" and judge_rules == "strict":
        return name, _strict_rewardbench
    return name, choices[name]
