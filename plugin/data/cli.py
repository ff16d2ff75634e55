"""``metricsft data convert TASK --src RAW --format FAMILY --out DIR [...]``.

Prints where the dataset went, how many records were skipped and why, and the first row.
Exit code 0 on success, 2 on bad input (the message names the file and line or image).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from metricsft.dataclass_cli import add_dataclass_flags, from_namespace

from .common import ConversionError, ConvertOptions
from .convert import CONVERTERS, run_conversion


def _parser() -> argparse.ArgumentParser:
    """One ``convert TASK`` sub-command per converter; its flags come from the converter's options dataclass."""
    parser = argparse.ArgumentParser(prog="metricsft data", description="Convert official raw data to LLaMA-Factory datasets.")
    sub = parser.add_subparsers(dest="action", required=True)
    conv = sub.add_parser("convert", help="convert one benchmark's raw files into sharegpt JSONL + dataset_info.json")
    tasks = conv.add_subparsers(dest="task", required=True, metavar="{" + ",".join(CONVERTERS.names) + "}")
    for task in CONVERTERS.names:
        one = tasks.add_parser(task, help=f"convert {task} data")
        add_dataclass_flags(one, CONVERTERS.load(task).options)
        one.add_argument("--quiet", action="store_true", help="no progress bar, no row preview")
    return parser


def options_from_args(args: argparse.Namespace) -> ConvertOptions:
    """The converter's options from parsed ``convert TASK ...`` flags."""
    return from_namespace(CONVERTERS.load(args.task).options, args, task=args.task)


def data_main(argv: Sequence[str]) -> int:
    """Entry point of ``metricsft data``; returns the process exit code.

    >>> data_main(["convert", "gsm8k", "--src", "test.jsonl", "--format", "llama", "--out", "data"])  # doctest: +SKIP
    """
    args = _parser().parse_args(list(argv))
    options = options_from_args(args)
    try:
        summary = run_conversion(options, progress=not args.quiet)
    except ConversionError as err:
        print(f"metricsft data convert: error: {err}", file=sys.stderr)
        return 2
    for line in summary.lines():
        print(line)
    if not args.quiet and summary.first_row is not None:
        print("first row:")
        print(json.dumps(summary.first_row, ensure_ascii=False, indent=1)[:2000])
    return 0
