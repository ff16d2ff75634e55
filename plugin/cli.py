"""`metricsft` command line: a thin dispatcher.

Each sub-command lives in the package that owns it and is imported lazily, so that
`metricsft score` / `metricsft eval` never import LLaMA-Factory (the evaluation side runs in
its own environment, e.g. next to vLLM) and `metricsft train` does not import the eval stack.

    metricsft train CONFIG.yaml [key=value ...]
    metricsft score TASK PREDICTIONS.jsonl [--format FAMILY] [--json]
    metricsft eval TASK --model PATH --backend hf|vllm|openai --data FILE --format FAMILY --out DIR
    metricsft data convert TASK --src RAW --format FAMILY --out DIR
    metricsft demo [--loss ntil] [--workdir DIR]
    metricsft --version

Conventions: `--help` prints to stdout and exits 0; a missing or bad argument prints the usage
or a one-line error to stderr and exits 2.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

from metricsft.registry import Registry

# sub-command -> ("module:function", one-line help); every function takes argv (without the sub-command)
# and returns a process exit code. The table below is the one place a command is declared.
_COMMAND_TABLE: dict[str, tuple[str, str]] = {
    "train": ("metricsft.integrations.llamafactory.cli:train_main", "fine-tune with LLaMA-Factory + a metric loss"),
    "score": ("metricsft.eval.score_cli:score_main", "score generated predictions offline"),
    "eval": ("metricsft.eval.eval_cli:eval_main", "generate in batch (vLLM / HF / OpenAI), cache, resume, score"),
    "data": ("metricsft.data.cli:data_main", "convert official raw data to LLaMA-Factory datasets"),
    "demo": ("metricsft.integrations.demo:demo_main", "the built-in example: a tiny model, NTIL, on CPU"),
}
# Imported only when run, so `metricsft score` never imports LLaMA-Factory.
COMMANDS: Registry[Callable[[Sequence[str]], int]] = Registry(
    "command", {name: target for name, (target, _) in _COMMAND_TABLE.items()}
)
COMMAND_HELP: dict[str, str] = {name: help_ for name, (_, help_) in _COMMAND_TABLE.items()}


def _usage() -> str:
    lines = ["usage: metricsft [--version] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<6} {COMMAND_HELP[name]}" for name in COMMANDS.names]
    lines += ["", "`metricsft COMMAND --help` describes one command."]
    return "\n".join(lines)


def _dispatch(args: list[str]) -> int:
    if not args:
        # A bare `metricsft` did nothing the user asked for: usage on stderr and the usage exit code.
        print(_usage(), file=sys.stderr)
        return 2
    if args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if args[0] in {"-V", "--version"}:
        from metricsft import __version__

        print(f"metricsft {__version__}")
        return 0
    command, rest = args[0], args[1:]
    try:
        COMMANDS.check(command)
    except ValueError as error:  # "unknown command 'x'; choose one of: ...; did you mean ...", then the usage
        print(f"metricsft: {error}\n\n{_usage()}", file=sys.stderr)
        return 2
    return int(COMMANDS.load(command)(rest) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `metricsft` console script; returns the process exit code.

    >>> main(["--version"])  # doctest: +SKIP
    metricsft 0.1.0
    0
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            return _dispatch(args)
        finally:
            # Also after a sub-command's argparse `--help` (SystemExit): a closed pipe must surface
            # here, not as "Exception ignored ... BrokenPipeError" at interpreter exit.
            sys.stdout.flush()
    except BrokenPipeError:
        # `metricsft -h | head -1`: the reader has gone, which is what it asked for. Point stdout at
        # /dev/null so the final flush at exit cannot fail again, and exit like a process killed by
        # SIGPIPE (128 + 13), as other command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
