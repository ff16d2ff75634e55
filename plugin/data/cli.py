"""``metricsft data convert TASK --src RAW --format FAMILY --out DIR [...]``.

Prints where the dataset went, how many records were skipped and why, and the first row.
Exit code 0 on success, 2 on bad input (the message names the file and line or image).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from metricsft.templates import FAMILIES

from .common import ConversionError, ConvertOptions
from .convert import CONVERTERS, run_conversion


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metricsft data", description="Convert official raw data to LLaMA-Factory datasets.")
    sub = parser.add_subparsers(dest="action", required=True)
    conv = sub.add_parser("convert", help="convert one benchmark's raw files into sharegpt JSONL + dataset_info.json")
    conv.add_argument("task", choices=CONVERTERS.names)
    conv.add_argument("--src", required=True, help="raw data: a file, a folder, or generate:MODULE (arithmetic)")
    conv.add_argument("--format", dest="family", required=True, help=f"model family: {', '.join(FAMILIES)}")
    conv.add_argument("--out", required=True, help="output folder (gets NAME.jsonl and dataset_info.json)")
    conv.add_argument("--split", help="split to keep / record (refcoco: train, val, testA...; arithmetic: train, interpolate...)")
    conv.add_argument("--name", help="dataset name (default TASK[_SPLIT]_FAMILY)")
    conv.add_argument("--skip-invalid", action="store_true", help="skip bad records and report counts by reason")
    conv.add_argument("--allow-pickle", action="store_true", help="refcoco: read the official refs(*).p (restricted unpickler)")
    conv.add_argument("--limit", type=int, help="stop after N rows")
    conv.add_argument("--seed", type=int, default=0, help="seed for generated data and position swaps")
    conv.add_argument("--images", help="folder that holds the images (default: next to --src)")
    conv.add_argument("--layout", default="auto", help="textdet: icdar2015, td500, ctw1500, totaltext (default: detect)")
    conv.add_argument("--mode", default="auto", help="rewardbench: pairwise, rating or scores (default: from the columns)")
    # Qwen2.5-VL's image processor defaults; they must equal the processor's min/max_pixels at training
    # and inference time (and LLaMA-Factory's image_max_pixels must not shrink the image first).
    conv.add_argument("--min-pixels", type=int, default=3136, help="qwen2_5_vl: the processor's min_pixels (default 3136)")
    conv.add_argument("--max-pixels", type=int, default=12845056, help="qwen2_5_vl: the processor's max_pixels (default 12845056)")
    conv.add_argument("--keep-calculator", action="store_true", help="gsm8k: keep the <<a*b=c>> calculator annotations")
    conv.add_argument("--quiet", action="store_true", help="no progress bar, no row preview")
    return parser


def data_main(argv: Sequence[str]) -> int:
    """Entry point of ``metricsft data``; returns the process exit code.

    >>> data_main(["convert", "gsm8k", "--src", "test.jsonl", "--format", "llama", "--out", "data"])  # doctest: +SKIP
    """
    args = _parser().parse_args(list(argv))
    fields = {k: v for k, v in vars(args).items() if k not in {"action", "quiet"}}
    options = ConvertOptions(**fields)
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
