"""`metricsft eval TASK --model PATH --backend hf|vllm|openai --data FILE --format FAMILY --out DIR`.

    $ metricsft eval gsm8k --model ./smollm2 --backend hf --data gsm8k.jsonl --format llama --out out/gsm8k
    $ .venv-vllm/bin/metricsft eval refcoco --model ./qwen2-vl --adapter ./lora --backend vllm \\
          --tensor-parallel-size 2 --data refcoco.jsonl --format qwen2_vl --out out/refcoco
    $ metricsft eval clock --backend openai --base-url http://127.0.0.1:8000/v1 --model served-name ...
    $ metricsft eval gsm8k ... --out out/gsm8k --decode mbr --samples 8 --seed 0   # next to the greedy run

Killed or crashed? Run the same command again: cached answers are kept, only missing rows run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from metricsft.dataclass_cli import add_dataclass_flags, from_namespace
from metricsft.eval.backends import BackendError
from metricsft.eval.runner import MBR_GROUP, EvalArguments, run_eval

# Printed under the group's title in --help; the flags themselves come from EvalArguments' fields.
GROUP_DESCRIPTIONS = {
    MBR_GROUP: "sample N answers per row and keep the one a decision rule picks (median, majority vote, box "
    "medoid, circular median: see README)",
}


def build_parser() -> argparse.ArgumentParser:
    """The `metricsft eval` parser: one flag per ``EvalArguments`` field, plus ``--json`` for the output.

    >>> build_parser().parse_args(["gsm8k", "--model", "m", "--backend", "hf", "--data", "d.jsonl",
    ...                            "--format", "llama", "--out", "out", "--no-progress"]).progress
    False
    """
    parser = argparse.ArgumentParser(
        prog="metricsft eval", description="Generate answers in batch, cache them as they arrive, resume, score."
    )
    add_dataclass_flags(parser, EvalArguments, groups=GROUP_DESCRIPTIONS)
    parser.add_argument("--json", action="store_true", help="print results.json instead of the Markdown table")
    return parser


def eval_main(argv: Sequence[str]) -> int:
    """Run `metricsft eval`; returns the process exit code.

    >>> eval_main(["gsm8k", "--model", "m", "--backend", "hf", "--data", "d.jsonl",
    ...            "--format", "llama", "--out", "out"])  # doctest: +SKIP
    0
    """
    options = build_parser().parse_args(list(argv))
    args = from_namespace(EvalArguments, options)
    try:
        results = run_eval(args)
    except (ValueError, FileNotFoundError, BackendError, ModuleNotFoundError) as error:
        print(f"metricsft eval: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"metricsft eval: interrupted; answers so far are cached in {args.out}, rerun the same command to resume",
              file=sys.stderr)
        return 130
    if options.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        print((Path(args.out) / "results.md").read_text())
        print(f"results written to {args.out}")
    return 0
