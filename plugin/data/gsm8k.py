"""GSM8k (openai/grade-school-math JSONL: ``question`` + ``answer`` ending in ``#### N``).

The gold answer is the text after ``#### `` with commas removed (lm-evaluation-harness rule).
The assistant turn is the worked solution ending in ``#### N``; the calculator annotations
``<<48/2=24>>`` are dropped unless ``--keep-calculator`` (they are tool calls, not prose).

    metricsft data convert gsm8k --src grade-school-math/data/test.jsonl --format llama --out data
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from metricsft.templates import Codec
from metricsft.templates.rows import AnswerTruth

from .common import ConvertOptions, Converter, Invalid, TrainingExample, make_row
from .readers import iter_records

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
