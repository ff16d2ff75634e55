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

from metricsft.eval.backends import BACKENDS, BackendError
from metricsft.eval.metrics.rewardbench import JUDGE_RULES
from metricsft.eval.runner import EvalArguments, run_eval


def build_parser() -> argparse.ArgumentParser:
    from metricsft.eval.tasks import TASKS

    parser = argparse.ArgumentParser(
        prog="metricsft eval", description="Generate answers in batch, cache them as they arrive, resume, score."
    )
    parser.add_argument("task", choices=TASKS, help="benchmark whose rows to generate for and whose rules to score with")
    parser.add_argument("--model", required=True, help="model directory (hf/vllm) or served model name (openai)")
    parser.add_argument("--adapter", help="LoRA adapter directory (PEFT format; hf and vllm backends)")
    parser.add_argument("--backend", required=True, choices=list(BACKENDS))
    parser.add_argument("--data", required=True, help="converted dataset rows (JSONL from `metricsft data convert`)")
    parser.add_argument("--format", required=True, dest="family", help="model family the prompts/answers use, e.g. qwen2_vl")
    parser.add_argument("--out", required=True, help="output directory (answer cache + results); reuse it to resume")
    parser.add_argument("--batch-size", type=int, help="hf: rows per generate call (default 8); vllm: max requests in flight")
    parser.add_argument("--max-new-tokens", type=int, help="override the task's per-row generation budget")
    parser.add_argument("--limit", type=int, help="evaluate only the first N rows")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                        help="auto: bf16 on GPU, fp32 on CPU")
    parser.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs per model replica")
    parser.add_argument("--data-parallel-size", type=int, default=1, help="vllm: model replicas (one process each)")
    parser.add_argument("--max-model-len", type=int, help="vllm: context length to reserve KV cache for")
    parser.add_argument("--base-url", help="openai: server URL ending in /v1, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--concurrency", type=int, default=8, help="openai: requests in flight")
    parser.add_argument("--max-retries", type=int, default=5, help="openai: retries per row on connection errors/5xx/429")
    parser.add_argument("--timeout", type=float, default=600.0, help="openai: seconds per request")
    parser.add_argument("--extra-body", type=json.loads, default={},
                        help='openai: JSON merged into each request, e.g. \'{"skip_special_tokens": false}\' for vLLM')
    parser.add_argument("--media-dir", help="folder for relative image paths (default: the --data file's folder)")
    parser.add_argument("--judge-rules", choices=JUDGE_RULES,
                        help="rewardbench only: 'official' (default; RewardBench's generative script: [[A]] anywhere "
                        "wins, a tie scores 0.5) or 'strict' (one distinct verdict, a tie scores 0)")
    mbr = parser.add_argument_group("MBR decoding", "sample N answers per row and keep the one a decision rule "
                                    "picks (median, majority vote, box medoid, circular median: see README)")
    mbr.add_argument("--decode", default="greedy", choices=["greedy", "mbr"], help="greedy (default) or mbr")
    mbr.add_argument("--samples", type=int, default=8, help="mbr: samples per row (default 8)")
    mbr.add_argument("--temperature", type=float, default=1.0, help="mbr: sampling temperature (default 1.0)")
    mbr.add_argument("--top-p", type=float, default=1.0, help="mbr: nucleus sampling mass (default 1.0 = off)")
    mbr.add_argument("--seed", type=int, default=0, help="mbr: seed; each row's samples use a seed derived from it "
                     "and the row id, so they do not depend on batching or resuming")
    mbr.add_argument("--mbr-rule", help="mbr: a decision rule other than the task's default, e.g. refcoco "
                     "coordinate_median, gsm8k median")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--json", action="store_true", help="print results.json instead of the Markdown table")
    return parser


def eval_main(argv: Sequence[str]) -> int:
    """Run `metricsft eval`; returns the process exit code.

    >>> eval_main(["gsm8k", "--model", "m", "--backend", "hf", "--data", "d.jsonl",
    ...            "--format", "llama", "--out", "out"])  # doctest: +SKIP
    0
    """
    options = build_parser().parse_args(list(argv))
    values = vars(options)
    as_json, no_progress = values.pop("json"), values.pop("no_progress")
    args = EvalArguments(**values, progress=not no_progress)
    try:
        results = run_eval(args)
    except (ValueError, FileNotFoundError, BackendError, ModuleNotFoundError) as error:
        print(f"metricsft eval: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"metricsft eval: interrupted; answers so far are cached in {args.out}, rerun the same command to resume",
              file=sys.stderr)
        return 130
    if as_json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        print((Path(args.out) / "results.md").read_text())
        print(f"results written to {args.out}")
    return 0
