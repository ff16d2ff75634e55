"""Arithmetic from DeepMind's ``mathematics_dataset`` (``arithmetic__mixed``), the whole task: truth,
converter, scorer, MBR rules, prompt. Questions are generated on the fly or read from its files.

``--src generate:arithmetic__mixed`` samples questions with the generator (seeded by
``--seed``; ``--split`` picks the regime: train (default), train-easy, train-medium,
train-hard, interpolate, extrapolate). ``--src FILE.txt`` reads the released files
(question and answer on alternating lines). The answer is kept exactly as generated
(an integer, a decimal or a fraction such as ``-3/4``).

Scored as exact answers, fractions compared as fractions.

    metricsft data convert arithmetic --src generate:arithmetic__mixed --limit 1000 --seed 0 --format llama --out data
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from metricsft.data.common import ConversionError, ConvertOptions, Converter, Invalid, TrainingExample, make_row
from metricsft.eval.decoding.task_rules import NUMBER_RULE_DESCRIPTIONS, MbrRules, number_rules
from metricsft.eval.parsers.answers import final_rational, to_fraction
from metricsft.eval.parsers.bounded import guarded
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Codec
from metricsft.templates.rows import AnswerTruth


# -- truth and prompt -----------------------------------------------------------------------------

#: reads ``meta.truth`` (shared with gsm8k: the final answer as text)
truth_from_json = AnswerTruth.from_json

#: default prompt per key (``codec.prompt(key, ...)``); a family may reword one in templates/prompts.yaml
PROMPTS: dict[str, str] = {
    "arithmetic": (
        "{question}\n"
        "Answer with the exact value only."
    ),
}


# -- converter ------------------------------------------------------------------------------------

GENERATE_PREFIX = "generate:"
DEFAULT_LIMIT = 1000


@dataclass
class ArithmeticOptions(ConvertOptions):
    seed: int = field(default=0, metadata={"help": "seed of the generator (generate:MODULE)"})


def _regime_modules(regime: str) -> dict[str, Callable[[], Any]]:
    from metricsft.data.mathematics_shim import import_generator_modules

    modules = import_generator_modules()

    def entropy(level: int, levels: int) -> Callable[[tuple[float, float]], tuple[float, float]]:
        # same sub-range rule as mathematics_dataset.generate._make_entropy_fn
        def restrict(range_: tuple[float, float]) -> tuple[float, float]:
            low, length = range_[0], range_[1] - range_[0]
            return (low + level / levels * length, low + (level + 1) / levels * length)

        return restrict

    builders = {
        "train": lambda: modules.train(entropy(0, 1)),
        "train-easy": lambda: modules.train(entropy(0, 3)),
        "train-medium": lambda: modules.train(entropy(1, 3)),
        "train-hard": lambda: modules.train(entropy(2, 3)),
        "interpolate": modules.test,
        "extrapolate": modules.test_extra,
    }
    if regime not in builders:
        raise ConversionError(f"unknown arithmetic split {regime!r}; choose one of: {', '.join(builders)}")
    flat: dict[str, Callable[[], Any]] = {}
    for group, entries in builders[regime]().items():
        for name, generator in entries.items():
            flat[f"{group}__{name}"] = generator
    return flat


def _generated(module_name: str, options: ArithmeticOptions) -> Iterator[tuple[str, str]]:
    import numpy as np

    from mathematics_dataset import generate_settings

    regime = options.split or "train"
    generators = _regime_modules(regime)
    if module_name not in generators:
        known = ", ".join(sorted(n for n in generators if n.startswith("arithmetic__")))
        raise ConversionError(f"unknown generator {module_name!r} for split {regime!r}; arithmetic ones: {known}")
    # the generator draws from both global RNGs
    random.seed(options.seed)
    np.random.seed(options.seed)
    limit = options.limit or DEFAULT_LIMIT
    for _ in range(limit):
        while True:  # same length filter as mathematics_dataset.generate.sample_from_module
            problem = generators[module_name]()
            question, answer = str(problem.question), str(problem.answer)
            if len(question) <= generate_settings.MAX_QUESTION_LENGTH and len(answer) <= generate_settings.MAX_ANSWER_LENGTH:
                break
        yield question, answer


def convert(options: ArithmeticOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    if options.src.startswith(GENERATE_PREFIX):
        module_name = options.src[len(GENERATE_PREFIX):]
        split = options.split or "train"
        source = f"{module_name}/{split}/seed{options.seed}"
        pairs: Iterator[tuple[str, str | Invalid]] = ((q, a) for q, a in _generated(module_name, options))
    else:
        path = Path(options.src)
        if not path.is_file():
            raise ConversionError(f"{path}: no such file; give a mathematics_dataset .txt file or generate:MODULE")
        split = options.split or path.parent.name or "file"
        source = f"{path.stem}/{split}"
        pairs = _read_pairs(path)
    for index, (question, answer) in enumerate(pairs):
        if isinstance(answer, Invalid):
            yield answer
            continue
        yield make_row(
            row_id=f"arithmetic/{source}/{index}",
            codec=codec,
            prompt=codec.prompt("arithmetic", question=question),
            answer=answer,
            task="arithmetic",
            split=split,
            truth=AnswerTruth(answer),
        )


def _read_pairs(path: Path) -> Iterator[tuple[str, str | Invalid]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and not lines[-1].strip():
        lines = lines[:-1]
    for start in range(0, len(lines), 2):
        question = lines[start].strip()
        if start + 1 >= len(lines) or not lines[start + 1].strip() or not question:
            yield question, Invalid(f"{path}:{start + 1}", "malformed row", "expected a question line followed by an answer line")
            continue
        yield question, lines[start + 1].strip()


CONVERTER = Converter(ArithmeticOptions, convert, TrainingExample("mathematics_dataset arithmetic__mixed",
                      "--src generate:arithmetic__mixed --limit 100000 --seed 0 --split train",
                      "plain numbers (an integer, a decimal or a fraction p/q)"))


# -- scorer ---------------------------------------------------------------------------------------

class ArithmeticTask(Task[tuple[str, Fraction]]):
    name = "arithmetic"
    max_new_tokens = 64
    rules = {
        "exact_match": "the last rational number in the answer (e.g. '-3/4', '12', '0.5') equals the truth as an "
        "exact Fraction (so '6/8' == '3/4')",
        "strict_exact_match": "the whole answer is the bare value in the family's answer format (codec.parse_answer) "
        "and equals the truth as an exact Fraction",
        "parse_failure_rate": "share of rows with no number in the answer",
    }

    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> tuple[str, Fraction]:
        """The truth as written and as an exact Fraction."""
        truth = self.typed_truth(row, rid)
        text = truth.answer if truth is not None else self.label(row, rid)  # type: ignore[union-attr]
        value = to_fraction(text.strip())
        if value is None:
            raise ValueError(f"row {rid!r}: truth {text[:60]!r} is not an exact number or fraction")
        return text, value

    def parse(self, text: str, gold: tuple[str, Fraction], row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        lenient = final_rational(text)
        strict = guarded(codec.parse_answer, text.strip())
        strict_value = to_fraction(strict.value) if strict.ok and strict.value is not None else None
        return (lenient.value, strict_value), lenient.reason

    def score_one(self, gold: tuple[str, Fraction], value: Any, reason: str | None, row: Mapping[str, Any]) -> dict[str, Any]:
        gold_text, gold_value = gold
        lenient, strict = value if value is not None else (None, None)
        return {
            "gold": gold_text, "predicted": None if lenient is None else str(lenient),
            "ok": lenient is not None and lenient == gold_value, "strict_ok": strict is not None and strict == gold_value,
        }

    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec, rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        n = len(entries) or 1
        return Aggregate({
            "exact_match": sum(e["ok"] for e in entries) / n,
            "strict_exact_match": sum(e["strict_ok"] for e in entries) / n,
            "parse_failure_rate": failure_rate,
        })


TASK = ArithmeticTask


# -- MBR decoding ---------------------------------------------------------------------------------

def _number(text: str) -> Fraction | None:
    """The number the ``exact_match`` metric reads: the last rational number in the answer."""
    parsed = final_rational(text)
    return parsed.value if parsed.ok else None


# exact match is scored, so the mode (majority vote) is the default
MBR = MbrRules(number_rules(_number), NUMBER_RULE_DESCRIPTIONS)
