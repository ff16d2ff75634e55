"""A task is one module plus its line in ``metricsft.tasks.TASK_MODULES``: every table of tasks follows that line.

The last test adds a toy task the way a contributor would (one module, one registry line) and runs it
through ``metricsft data convert``, ``score`` and MBR decoding without touching any other file.
"""

from __future__ import annotations

import importlib
import json
import string
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from metricsft.data.common import Converter
from metricsft.data.convert import CONVERTERS
from metricsft.eval.decoding.task_rules import TASK_MBR, MbrRules, mbr_rule
from metricsft.eval.tasks import TASK_CLASSES, TASKS, Task
from metricsft.tasks import TASK_MODULES
from metricsft.templates import FAMILIES
from metricsft.templates.prompts import default_prompts, load_prompts
from metricsft.templates.rows import TRUTH_READERS

REPO = Path(__file__).resolve().parents[1]


def test_every_table_of_tasks_is_the_registry_line() -> None:
    assert TASKS == tuple(TASK_MODULES)
    for table in (CONVERTERS, TASK_CLASSES, TRUTH_READERS, TASK_MBR):
        assert table.names == TASKS


@pytest.mark.parametrize("task", list(TASK_MODULES))
def test_a_task_module_owns_all_of_its_task(task: str) -> None:
    module = importlib.import_module(TASK_MODULES[task])
    assert isinstance(module.CONVERTER, Converter)
    assert issubclass(module.TASK, Task) and module.TASK.name == task
    assert callable(module.truth_from_json)
    assert isinstance(module.MBR, MbrRules)
    # a rule to decode with, or the reason there is none (textdet); never silently neither
    assert bool(module.MBR.rules) != (module.MBR.unsupported is not None)
    assert set(module.MBR.descriptions) == set(module.MBR.rules) and set(module.MBR.strict) <= set(module.MBR.rules)
    if module.MBR.rules:
        assert mbr_rule(task)[0] == next(iter(module.MBR.rules))
    else:
        with pytest.raises(ValueError, match="not supported"):
            mbr_rule(task)
    assert module.PROMPTS and all(isinstance(text, str) and text for text in module.PROMPTS.values())


def test_family_prompts_only_reword_known_prompts_with_the_same_fields() -> None:
    defaults = default_prompts()
    for family, prompts in load_prompts().items():
        assert family in FAMILIES, family
        for key, text in prompts.items():
            assert key in defaults, f"{family} rewords an unknown prompt {key!r}"
            fields = {name for _, name, _, _ in string.Formatter().parse(text) if name}
            assert fields <= {name for _, name, _, _ in string.Formatter().parse(defaults[key]) if name}, (family, key)


def test_no_task_module_is_left_in_the_generic_packages() -> None:
    # the converter and scorer packages hold generic machinery only; a task's code lives in tasks/<task>.py
    for folder in ("plugin/data", "eval/tasks"):
        assert not {path.stem for path in (REPO / folder).glob("*.py")} & set(TASK_MODULES), folder


TOY_TASK = '''
"""Toy task: echo a number (a test fixture that shows what adding a task takes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from metricsft.data.common import ConvertOptions, Converter, Invalid, TrainingExample, make_row
from metricsft.eval.decoding.task_rules import NUMBER_RULE_DESCRIPTIONS, MbrRules, number_rules
from metricsft.eval.parsers.answers import final_rational, to_fraction
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Codec
from metricsft.templates.rows import AnswerTruth

truth_from_json = AnswerTruth.from_json
PROMPTS = {"toy": "Repeat {number}."}


def convert(options: ConvertOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    for index, line in enumerate(Path(options.src).read_text().split()):
        yield make_row(row_id=f"toy/{index}", codec=codec, prompt=codec.prompt("toy", number=line), answer=line,
                       task="toy", split="test", truth=AnswerTruth(line))


CONVERTER = Converter(ConvertOptions, convert, TrainingExample("toy numbers", "--src toy.txt", "plain numbers"))


class ToyTask(Task[str]):
    name = "toy"
    rules = {"exact_match": "the last number equals the truth", "parse_failure_rate": "rows without a number"}

    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> str:
        return self.typed_truth(row, rid).answer

    def parse(self, text: str, gold: str, row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        parsed = final_rational(text)
        return parsed.value, parsed.reason

    def score_one(self, gold: str, value: Any, reason: str | None, row: Mapping[str, Any]) -> dict[str, Any]:
        return {"ok": value is not None and value == to_fraction(gold)}

    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec,
                  rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        return Aggregate({"exact_match": sum(e["ok"] for e in entries) / len(entries), "parse_failure_rate": failure_rate})


TASK = ToyTask


def _number(text: str):
    parsed = final_rational(text)
    return parsed.value if parsed.ok else None


MBR = MbrRules(number_rules(_number), NUMBER_RULE_DESCRIPTIONS)
'''

TOY_RUN = '''
import json, sys
sys.path.insert(0, sys.argv[1])
import metricsft.tasks
metricsft.tasks.TASK_MODULES["toy"] = "toy_task"   # the one registry line
from metricsft.data.cli import data_main
from metricsft.eval.decoding.task_rules import mbr_rule
from metricsft.eval.tasks import TASKS, get_task
from metricsft.templates import get_codec
assert data_main(["convert", "toy", "--src", sys.argv[2], "--format", "llama", "--out", sys.argv[3], "--quiet"]) == 0
task = get_task("toy")
rows = task.read_rows(sys.argv[3] + "/toy_llama.jsonl")
report = task.score(rows, {row["id"]: row["messages"][-1]["content"] for row in rows}, "llama")
decision = mbr_rule("toy")[1](["7", "8", "7"], rows[0], get_codec("llama"))
print(json.dumps({"tasks": TASKS, "prompt": rows[0]["messages"][0]["content"], "metric": report.metrics["exact_match"],
                  "mbr": decision.value}))
'''


def test_a_new_task_is_one_module_and_one_registry_line(tmp_path: Path) -> None:
    (tmp_path / "toy_task.py").write_text(textwrap.dedent(TOY_TASK))
    (tmp_path / "toy.txt").write_text("3 14 15\n")
    done = subprocess.run([sys.executable, "-c", TOY_RUN, str(tmp_path), str(tmp_path / "toy.txt"), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"tasks": [*TASKS, "toy"], "prompt": "Repeat 3.", "metric": 1.0, "mbr": "7"}
