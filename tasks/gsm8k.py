"""GSM8k: grade-school maths word problems (openai/grade-school-math JSONL: ``question`` + ``answer``
ending in ``#### N``), the whole task: truth, converter, scorer, MBR rules, prompt.

The gold answer is the text after ``#### `` with commas removed (lm-evaluation-harness rule).
The assistant turn is the worked solution ending in ``#### N``; the calculator annotations
``<<48/2=24>>`` are dropped unless ``--keep-calculator`` (they are tool calls, not prose).

Scored with lm-evaluation-harness's two rules plus a numeric compare.

    metricsft data convert gsm8k --src grade-school-math/data/test.jsonl --format llama --out data
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from metricsft.data.common import ConvertOptions, Converter, Invalid, TrainingExample, make_row
from metricsft.data.readers import iter_records
from metricsft.eval.decoding.task_rules import NUMBER_RULE_DESCRIPTIONS, MbrRules, number_rules
from metricsft.eval.parsers.answers import flexible_extract, numeric_equal, strict_match, to_fraction
from metricsft.eval.parsers.bounded import guarded
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Codec
from metricsft.templates.rows import AnswerTruth


# -- truth and prompt -----------------------------------------------------------------------------

#: reads ``meta.truth`` (shared with arithmetic: the final answer as text)
truth_from_json = AnswerTruth.from_json

#: default prompt per key (``codec.prompt(key, ...)``); a family may reword one in templates/prompts.yaml
PROMPTS: dict[str, str] = {
    "gsm8k": (
        "{question}\n"
        "Solve the problem step by step and end with the final answer on its own line as \"#### <number>\"."
    ),
}


# -- converter ------------------------------------------------------------------------------------

_CALCULATOR = re.compile(r"<<[^<>]*>>")
_FINAL = "#### "


@dataclass
class GSM8kOptions(ConvertOptions):
    keep_calculator: bool = field(default=False, metadata={"help": "keep the <<a*b=c>> calculator annotations"})


def split_solution(answer: str) -> tuple[str, str] | None:
    """(worked solution, final answer with commas removed), or None without ``#### ``.

    >>> split_solution("2 + 2 = 4 apples\\n#### 1,004")
    ('2 + 2 = 4 apples', '1004')
    """
    if _FINAL not in answer:
        return None
    solution, _, final = answer.rpartition(_FINAL)
    return solution.rstrip(), final.strip().replace(",", "")


def convert(options: GSM8kOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    src = Path(options.src)
    split = options.split or src.stem
    for index, (where, record) in enumerate(iter_records(src)):
        if isinstance(record, Invalid):
            yield record
            continue
        question, answer = record.get("question"), record.get("answer")
        if not isinstance(question, str) or not isinstance(answer, str):
            yield Invalid(where, "malformed row", "needs string fields 'question' and 'answer'")
            continue
        parts = split_solution(answer)
        if parts is None or not parts[1]:
            yield Invalid(where, "no final answer", "the 'answer' field has no '#### N' final answer")
            continue
        solution, final = parts
        if not options.keep_calculator:
            solution = _CALCULATOR.sub("", solution)
        yield make_row(
            row_id=f"gsm8k/{split}/{index}",
            codec=codec,
            prompt=codec.prompt("gsm8k", question=question),
            answer=f"{solution}\n{_FINAL}{final}",
            task="gsm8k",
            split=split,
            truth=AnswerTruth(final),
        )


CONVERTER = Converter(GSM8kOptions, convert, TrainingExample("GSM8k worked solutions", "--src grade-school-math/grade_school_math/data/train.jsonl --split train",
                      "plain numbers; the solution ends in '#### N'"))


# -- scorer ---------------------------------------------------------------------------------------

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


# -- MBR decoding ---------------------------------------------------------------------------------

def _number(text: str) -> Fraction | None:
    """The number the ``numeric`` metric reads: '#### N', else the last number."""
    strict = strict_match(text)
    answer = strict if strict.ok else flexible_extract(text)
    return to_fraction(answer.value) if answer.ok and answer.value is not None else None


# exact match is scored, so the mode (majority vote, "self-consistency") is the default
MBR = MbrRules(number_rules(_number), NUMBER_RULE_DESCRIPTIONS)
