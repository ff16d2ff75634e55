"""`metricsft` command line: a thin dispatcher.

Each sub-command lives in the package that owns it and is imported lazily, so that
`metricsft score` / `metricsft eval` never import LLaMA-Factory (the evaluation side runs in
its own environment, e.g. next to vLLM) and `metricsft train` does not import the eval stack.

    metricsft train CONFIG.yaml [key=value ...]
    metricsft score TASK PREDICTIONS.jsonl [--format FAMILY] [--json]
    metricsft eval TASK --model PATH --backend hf|vllm|openai --data FILE --format FAMILY --out DIR
    metricsft data convert TASK --src RAW --format FAMILY --out DIR
    metricsft demo [--loss ntil] [--workdir DIR]
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Sequence

# sub-command -> "module:function"; every function takes argv (without the sub-command) and
# returns a process exit code.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("metricsft.integrations.llamafactory.cli:train_main", "fine-tune with LLaMA-Factory + a metric loss"),
    "score": ("metricsft.eval.score_cli:score_main", "score generated predictions offline"),
    "eval": ("metricsft.eval.eval_cli:eval_main", "generate in batch (vLLM / HF / OpenAI), cache, resume, score"),
    "data": ("metricsft.data.cli:data_main", "convert official raw data to LLaMA-Factory datasets"),
    "demo": ("metricsft.integrations.demo:demo_main", "the built-in example: a tiny model, NTIL, on CPU"),
}


def _usage() -> str:
    lines = ["usage: metricsft COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<6} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def _resolve(target: str) -> Callable[[Sequence[str]], int]:
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `metricsft` console script.

    >>> main(["--help"])  # doctest: +SKIP
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"metricsft: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return int(_resolve(COMMANDS[command][0])(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
