"""How one row's N sampled answers become the answer scored: the generic part of every task's MBR rule.

Each task module (``metricsft.tasks.<task>``) states its decision rules as ``MBR = MbrRules(...)``;
``TASK_MBR`` is built from the task list (``metricsft.tasks.TASK_MODULES``). Every rule parses each
sample with the task's own parser, drops the samples that do not parse, applies a decision rule from
`rules.py` to the rest and returns a `Decision`: the text the task then scores exactly as it scores a
greedy answer (a sample when the rule picks one, else the chosen value written by the family codec).
A row where no sample parses keeps its first sample as the answer, so the task counts it as a parse
failure with the usual reason.

    >>> from metricsft.templates import get_codec
    >>> decide = mbr_rule("gsm8k")[1]
    >>> decide(["#### 7", "#### 8", "so 7 it is\\n#### 7", "no idea"], {}, get_codec("llama")).value
    '7'

Defaults are the Bayes-optimal rule for each task's headline metric: exact-match numbers (gsm8k,
arithmetic) take the mode (majority vote, "self-consistency"); `median` is offered for absolute-error
use of the same numbers (``number_rules``, shared by the number tasks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

from metricsft.eval.decoding import rules
from metricsft.registry import Registry
from metricsft.tasks import task_registry
from metricsft.templates import Codec
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


def nothing_parsed(samples: Sequence[str]) -> Decision:
    """The decision for a row where no sample parsed: its first sample, so the task reports the parse failure.

    >>> nothing_parsed(["no idea", "?"]).text
    'no idea'
    """
    return Decision(samples[0] if samples else "", None, 0, None)


def pick(samples: Sequence[str], parse: Callable[[str], Any], choose: Callable[[list[Any]], int],
         show: Callable[[Any], Any], spread: Callable[[list[Any], int], dict[str, Any]]) -> Decision:
    """Parse every sample, drop failures, answer with the sample ``choose`` picks among the parsed values.

    >>> pick(["3", "x", "3", "4"], lambda t: int(t) if t.isdigit() else None, rules.majority_vote, int,
    ...      lambda values, chosen: {}).chosen_sample
    0
    """
    kept = [(index, value) for index, value in ((i, parse(text)) for i, text in enumerate(samples)) if value is not None]
    if not kept:
        return nothing_parsed(samples)
    values = [value for _, value in kept]
    chosen = choose(values)
    index = kept[chosen][0]
    return Decision(samples[index], show(values[chosen]), len(values), index, spread(values, chosen))


# -- numbers (the tasks whose answer is one exact number share these) ------------------------------

def _number_spread(values: list[Fraction], chosen: int) -> dict[str, Any]:
    return {"iqr": rules.interquartile_range([float(v) for v in values]),
            "agreement": rules.agreement(values, chosen)}


def number_rules(parse: Callable[[str], Fraction | None]) -> dict[str, RowRule]:
    """``majority`` (the default) and ``median`` over the numbers ``parse`` reads from the samples.

    >>> from metricsft.templates import get_codec
    >>> median = number_rules(lambda t: Fraction(t) if t.isdigit() else None)["median"]
    >>> median(["1", "100", "7", "9"], {}, get_codec("llama")).value
    '7'
    """
    def rule(choose: Callable[[list[Any]], int]) -> RowRule:
        return lambda samples, row, codec: pick(samples, parse, choose, format_number, _number_spread)

    return {"majority": rule(rules.majority_vote), "median": rule(rules.lower_median)}


NUMBER_RULE_DESCRIPTIONS: dict[str, str] = {
    "majority": "majority vote over the samples' numbers compared as exact values (ties: the value seen first); "
    "Bayes-optimal for exact match",
    "median": "lower median of the samples' numbers; Bayes-optimal for absolute error",
}


# -- one task's rules and the registry ---------------------------------------------------------------

@dataclass(frozen=True)
class MbrRules:
    """One task's MBR decision rules: ``rules`` (name -> rule; the first is the default), what each
    minimises (``descriptions``, written into results so a number can be traced to its rule),
    replacements under ``--judge-rules strict`` (``strict``), or why the task has none (``unsupported``).

    >>> MbrRules.none("no rule here").rules
    {}
    """

    rules: Mapping[str, RowRule]
    descriptions: Mapping[str, str]
    strict: Mapping[str, RowRule] = field(default_factory=dict)
    unsupported: str | None = None

    @classmethod
    def none(cls, why: str) -> "MbrRules":
        """A task without MBR decoding; ``why`` is the error ``mbr_rule`` raises for it."""
        return cls({}, {}, unsupported=why)


#: task -> its module's ``MBR`` (imported on first use)
TASK_MBR: Registry[MbrRules] = task_registry("task", "MBR")


def mbr_rule(task: str, name: str | None = None, judge_rules: str | None = None) -> tuple[str, RowRule]:
    """``(rule name, rule)`` for ``task``: ``name`` or the task's default; errors say what to pass instead.

    ``judge_rules`` (rewardbench's ``--judge-rules``) makes the verdict vote read verdicts as the scorer will.
    """
    task_rules = TASK_MBR.load(task)
    if task_rules.unsupported is not None:
        raise ValueError(task_rules.unsupported)
    choices = task_rules.rules
    name = name or next(iter(choices))
    if name not in choices:
        raise ValueError(f"--mbr-rule {name!r} does not apply to {task}; choose one of: {', '.join(choices)}")
    if judge_rules == "strict" and name in task_rules.strict:
        return name, task_rules.strict[name]
    return name, choices[name]


def rule_description(task: str, name: str) -> str:
    """What rule ``name`` of ``task`` minimises (as written into ``results_mbr.json``).

    >>> rule_description("clock", "circular_median")
    'circular median on the 12-hour dial (the sample with the least summed time gap to the others)'
    """
    return TASK_MBR.load(task).descriptions[name]
