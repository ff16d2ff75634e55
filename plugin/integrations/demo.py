"""`metricsft demo`: the built-in example, end to end on a CPU in about a minute.

It builds the tiny demo model (no download, see :mod:`metricsft.integrations.demo_model`), fine-tunes
it with LLaMA-Factory on the bundled `numbers_demo` dataset through `metricsft train` with the chosen
metric loss, and prints the loss components LLaMA-Factory logged. Everything lands in ``--workdir``.

    metricsft demo                          # NTIL, into ./metricsft-demo
    metricsft demo --loss dist2 --workdir /tmp/demo
    metricsft demo --loss none              # the plain LLaMA-Factory CE baseline
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from ..losses import LOSS_NAMES


def example_config() -> Path:
    """The packaged LLaMA-Factory YAML the demo runs (``data_configs/examples/tiny_cpu_sft.yaml``)."""
    import metricsft.data_configs

    return Path(metricsft.data_configs.__file__).parent / "examples" / "tiny_cpu_sft.yaml"


def demo_overrides(workdir: Path, loss: str) -> list[str]:
    """`key=value` overrides that point the example YAML at ``workdir`` and the packaged data."""
    return [
        f"model_name_or_path={workdir / 'model'}",
        f"dataset_dir={example_config().parent}",
        f"output_dir={workdir / 'output'}",
        f"metric_loss={'null' if loss == 'none' else loss}",
    ]


def summarise_log(output_dir: Path) -> list[dict]:
    """The records of LLaMA-Factory's ``trainer_log.jsonl`` (one per logging step)."""
    log = output_dir / "trainer_log.jsonl"
    if not log.is_file():
        raise FileNotFoundError(f"training finished but wrote no {log}; see the training output above")
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def demo_main(argv: Sequence[str]) -> int:
    """Entry point of `metricsft demo`; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="metricsft demo", description=__doc__.splitlines()[0])
    parser.add_argument("--loss", default="ntil", choices=[*LOSS_NAMES, "none"], help="metric loss (none = plain CE)")
    parser.add_argument("--workdir", default="metricsft-demo", type=Path, help="where the model and the run go")
    args = parser.parse_args(list(argv))

    from .demo_model import build_demo_model
    from .llamafactory.cli import train_main

    workdir = args.workdir.resolve()
    if not (workdir / "model" / "config.json").is_file():
        build_demo_model(workdir / "model")
        print(f"metricsft demo: built the tiny demo model in {workdir / 'model'}")
    code = train_main([str(example_config()), *demo_overrides(workdir, args.loss)])
    if code != 0:
        return code
    records = [r for r in summarise_log(workdir / "output") if "loss" in r]
    print(f"\nmetricsft demo: {len(records)} logged steps, loss {args.loss}; components at each step:")
    for record in records:
        parts = {k: v for k, v in record.items() if k not in {"current_steps", "total_steps", "epoch", "percentage",
                                                             "elapsed_time", "remaining_time", "lr", "throughput",
                                                             "total_tokens"}}
        print("  step", record.get("current_steps"), json.dumps(parts))
    print(f"settings: {workdir / 'output' / 'metricsft_config.json'}" if args.loss != "none" else "")
    return 0
