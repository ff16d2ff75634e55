"""`metricsft score TASK PREDICTIONS.jsonl`: score generated text offline.

PREDICTIONS.jsonl is LLaMA-Factory's ``generated_predictions.jsonl`` (``prompt``/``predict``/``label``,
written by ``do_predict`` + ``predict_with_generate`` or ``scripts/vllm_infer.py``) or any JSONL whose rows
carry ``predict`` plus converted-row fields. ``--data`` joins the converted dataset by row index, which
brings the metadata the label text lacks (image size, RewardBench subset, do-not-care regions...).
The join is checked: each prediction's ``label`` must be the data row's answer (special tokens and spaces
aside), so a dataset LLaMA-Factory shuffled (``num_samples``) is refused instead of mis-scored.
``--limit N`` scores the first N rows of both files: LLaMA-Factory's ``max_samples: N`` predicts exactly
the first N rows of the dataset, so pass the same N.

    metricsft score gsm8k saves/llama3/predict/generated_predictions.jsonl
    metricsft score refcoco generated_predictions.jsonl --format qwen2_vl --data data/refcoco_val.jsonl --out results/
    metricsft score textdet generated_predictions.jsonl --data data/textdet_test.jsonl --limit 100  # max_samples: 100
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from metricsft.dataclass_cli import add_dataclass_flags, from_namespace
from metricsft.eval.metrics.rewardbench import JUDGE_RULES
from metricsft.eval.row_checks import check_labels_align, check_rows_fit
from metricsft.eval.runner import task_names
from metricsft.templates import FAMILIES

if TYPE_CHECKING:  # the tasks are imported when a command runs, not when the CLI is built
    from metricsft.eval.tasks import Task

# Tasks whose answers (times, verdicts, ratings, numbers) every family writes the same way, so a bare
# generated_predictions.jsonl can be scored without --format.
FAMILY_INDEPENDENT_TASKS = ("clock", "rewardbench", "gsm8k", "arithmetic")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of rows, got {value}")
    return value


@dataclass
class ScoreArguments:
    """What `metricsft score` takes; each field's metadata holds its flag's help (the flags are derived from it).

    >>> ScoreArguments(task="gsm8k", predictions="generated_predictions.jsonl").family is None
    True
    """

    task: str = field(metadata={"positional": True, "choices": task_names, "help": "benchmark whose rules to apply"})
    predictions: str = field(metadata={"positional": True, "help": "generated_predictions.jsonl (prompt/predict/label rows)"})
    family: str | None = field(default=None, metadata={
        "flag": "--format", "choices": FAMILIES,
        "help": "model family that wrote the answers (default: the rows' meta.family; llama for "
        f"{'/'.join(FAMILY_INDEPENDENT_TASKS)})",
    })
    data: str | None = field(default=None, metadata={
        "help": "the converted dataset the predictions came from (joined by row index; each prediction's label must "
        "be that row's answer, compared without special tokens and spaces)",
    })
    limit: int | None = field(default=None, metadata={
        "type": _positive_int,
        "help": "score only the first N rows of the predictions and of --data (LLaMA-Factory max_samples: N predicts "
        "the first N dataset rows)",
    })
    judge_rules: str | None = field(default=None, metadata={
        "choices": JUDGE_RULES,
        "help": "rewardbench only: 'official' (default; RewardBench's generative script: [[A]] anywhere wins, a tie "
        "scores 0.5) or 'strict' (one distinct verdict, a tie scores 0)",
    })
    as_json: bool = field(default=False, metadata={"flag": "--json", "help": "print one JSON object instead of a Markdown table"})
    out: str | None = field(default=None, metadata={"help": "directory for results.json, results.md and plots"})


def build_parser() -> argparse.ArgumentParser:
    """The `metricsft score` parser: one argument per ``ScoreArguments`` field.

    >>> build_parser().parse_args(["gsm8k", "p.jsonl", "--limit", "3", "--json"]).limit
    3
    """
    parser = argparse.ArgumentParser(prog="metricsft score", description=__doc__.split("\n\n")[0])
    add_dataclass_flags(parser, ScoreArguments)
    return parser


def _read_rows(task: Task, path: str, limit: int | None, family: str | None) -> list[dict]:
    rows = task.read_rows(path)
    rows = rows if limit is None else rows[:limit]
    check_rows_fit(rows, task.name, family, path)
    return rows


def _join(task: Task, rows: list[dict], args: ScoreArguments) -> list[dict]:
    from metricsft.eval.tasks import join_by_index

    converted = _read_rows(task, args.data, args.limit, args.family)
    if args.limit is None and len(rows) < len(converted):
        raise ValueError(
            f"{args.predictions} has {len(rows)} rows but {args.data} has {len(converted)}; if the predictions were "
            f"made with LLaMA-Factory's max_samples (the first rows of the dataset), pass --limit {len(rows)}"
        )
    where = f"{args.predictions} vs {args.data}"
    joined = join_by_index(rows, converted, where=where)  # refuses different lengths first
    check_labels_align(rows, converted, where)
    return joined


def _family(task: str, rows: Sequence[dict], requested: str | None) -> str:
    if requested:
        return requested
    found = {(row.get("meta") or {}).get("family") for row in rows} - {None}
    if len(found) == 1:
        return found.pop()
    if len(found) > 1:
        raise ValueError(f"rows come from several families {sorted(found)}; pass --format")
    if task in FAMILY_INDEPENDENT_TASKS:
        return "llama"
    raise ValueError(f"{task} answers are written differently by each family: pass --format ({', '.join(FAMILIES)})")


def score_main(argv: Sequence[str]) -> int:
    """Entry point of ``metricsft score``; returns the exit code (1 with a message on bad input)."""
    from metricsft.eval.tasks import get_task

    parser = build_parser()
    args = from_namespace(ScoreArguments, parser.parse_args(list(argv)))
    task = get_task(args.task)
    if args.judge_rules is not None:
        if not hasattr(task, "judge_rules"):
            parser.error(f"--judge-rules applies to rewardbench only, not {args.task}")
        task.judge_rules = args.judge_rules  # type: ignore[attr-defined]
    try:
        rows = _read_rows(task, args.predictions, args.limit, args.family)
        missing = [i for i, row in enumerate(rows) if not isinstance(row.get("predict"), str)]
        if missing:
            raise ValueError(f"{args.predictions}: row(s) {missing[:5]} have no 'predict' text; is this a predictions file?")
        if args.data:
            rows = _join(task, rows, args)
        family = _family(args.task, rows, args.family)
        report = task.score(rows, {}, family)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"metricsft score: error: {err}", file=sys.stderr)
        return 1
    summary = report.to_json()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps({**summary, "family": family}, indent=2, ensure_ascii=False) + "\n")
        (out / "results.md").write_text(report.to_markdown())
        plots = report.plot(out)
        print(f"wrote {out / 'results.json'}, {out / 'results.md'} and {len(plots)} plot(s)", file=sys.stderr)
    if args.as_json:
        summary.pop("per_row")  # per-row details go to results.json (--out); stdout stays one small object
        print(json.dumps({**summary, "family": family}, ensure_ascii=False))
    else:
        print(report.to_markdown(), end="")
    return 0
