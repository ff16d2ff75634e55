"""`metricsft train CONFIG.yaml [key=value ...]`: LLaMA-Factory SFT with a metric loss.

    metricsft train data_configs/examples/qwen2_vl_lora_sft.yaml metric_loss=ntil
    metricsft train my_sft.yaml metric_loss=dist2 metric_loss_args.alpha=0.2
    metricsft train my_sft.yaml metric_loss=null        # the same YAML, plain LLaMA-Factory CE

CONFIG is any LLaMA-Factory SFT YAML (e.g. one written from LLaMA-Factory 0.9.5's
examples/train_lora/qwen3vl_lora_sft.yaml) plus `metric_loss` and optional `metric_loss_args`.
It is read exactly as `llamafactory-cli train` reads it (LLaMA-Factory's own `read_args`: a
YAML/JSON file plus OmegaConf `key=value` overrides, or a `--key value` list). Without
`metric_loss` the command *is* `llamafactory-cli train` (`metric_loss=null` switches a YAML's metric
loss off: plain LLaMA-Factory training of the same config). With it, `metric_loss` /
`metric_loss_args` are taken out and checked, the precision, the refused options and the metric
vocabulary (against the model's tokenizer) are checked before any data or model is loaded, one
start-up line says what was installed, and LLaMA-Factory's `run_exp` runs with the loss installed
through the trainer seam. With several GPUs (or FORCE_TORCHRUN=1) the command re-launches itself
under torchrun, like LLaMA-Factory does, so every rank installs the loss. Exit code 2 and a
one-line error for a config it refuses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import textwrap
from typing import Any, Sequence

from metricsft.integrations.llamafactory.guards import (
    UnsupportedConfigError,
    check_environment,
    check_llamafactory_version,
)
from metricsft.integrations.llamafactory.notices import (
    ignored_args_warning,
    say,
    unused_vocabulary_warning,
    warn,
    yaml_scalar,
)
from metricsft.integrations.llamafactory.preflight import check_precision, checked_metric_loss, startup_line
from metricsft.integrations.llamafactory.settings import (
    MetricLossSettings,
    MetricSettingsError,
    ignored_metric_args,
    split_metric_settings,
    validate_settings,
)

WORKER_MODULE = "metricsft.integrations.llamafactory.worker"
# Set by the launcher for its torchrun workers: it has already printed the start-up line and the
# config warnings, so the workers (which still run every check) do not repeat them per node.
ANNOUNCED_ENV = "METRICSFT_TRAIN_ANNOUNCED"


def read_config(argv: Sequence[str]) -> dict[str, Any] | list[str]:
    """The config as `llamafactory-cli train ARGV` would read it (LLaMA-Factory's own `read_args`)."""
    from llamafactory.hparams import read_args

    saved = sys.argv
    sys.argv = ["metricsft-train", *argv]  # read_args looks at sys.argv[1:]
    try:
        return read_args()
    finally:
        sys.argv = saved


def run_llamafactory_cli(argv: Sequence[str]) -> int:
    """Run `llamafactory-cli train ARGV` in this process (its console entry point, unchanged)."""
    from llamafactory.cli import main as llamafactory_main

    saved = sys.argv
    sys.argv = ["llamafactory-cli", "train", *argv]
    try:
        llamafactory_main()
    finally:
        sys.argv = saved
    return 0


def run_in_this_process(settings: MetricLossSettings | None, config: dict[str, Any] | list[str]) -> int:
    """One rank: install the loss (unless `settings` is None: `metric_loss: null`) and run
    LLaMA-Factory's `run_exp` on `config` (our keys removed)."""
    from llamafactory.train.tuner import run_exp

    from metricsft.integrations.llamafactory.trainer import installed_metric_loss

    with installed_metric_loss(settings) if settings is not None else contextlib.nullcontext():
        run_exp(config)
    return 0


def _wants_torchrun() -> bool:
    # The same rule as LLaMA-Factory's launcher (USE_RAY is refused before we get here).
    from llamafactory.extras.misc import get_device_count, is_env_enabled, use_kt, use_ray

    return is_env_enabled("FORCE_TORCHRUN") or (get_device_count() > 1 and not use_ray() and not use_kt())


def torchrun_command(worker_argv: Sequence[str]) -> list[str]:
    """torchrun command line for the workers, honouring LLaMA-Factory's launcher variables
    (NNODES, NODE_RANK, NPROC_PER_NODE, MASTER_ADDR, MASTER_PORT, RDZV_ID, MIN/MAX_NNODES, MAX_RESTARTS).
    """
    from llamafactory.extras.misc import find_available_port, get_device_count

    nnodes = os.getenv("NNODES", "1")
    nproc = os.getenv("NPROC_PER_NODE", str(get_device_count()))
    master_addr = os.getenv("MASTER_ADDR", "127.0.0.1")
    master_port = os.getenv("MASTER_PORT", str(find_available_port()))
    cmd = [sys.executable, "-m", "torch.distributed.run"]
    rdzv_id = os.getenv("RDZV_ID")
    if rdzv_id is not None:
        min_nnodes, max_nnodes = os.getenv("MIN_NNODES"), os.getenv("MAX_NNODES")
        rdzv_nnodes = f"{min_nnodes}:{max_nnodes}" if min_nnodes and max_nnodes else nnodes
        cmd += ["--nnodes", rdzv_nnodes, "--nproc-per-node", nproc, "--rdzv-id", rdzv_id,
                "--rdzv-backend", "c10d", "--rdzv-endpoint", f"{master_addr}:{master_port}",
                "--max-restarts", os.getenv("MAX_RESTARTS", "0")]  # fmt: skip
    else:
        cmd += ["--nnodes", nnodes, "--node_rank", os.getenv("NODE_RANK", "0"), "--nproc_per_node", nproc,
                "--master_addr", master_addr, "--master_port", master_port]  # fmt: skip
    return cmd + ["-m", WORKER_MODULE, *worker_argv]


def launch_torchrun(argv: Sequence[str]) -> int:
    """Re-run `argv` under torchrun; each worker parses the same argv and installs the loss."""
    env = dict(os.environ)
    env[ANNOUNCED_ENV] = "1"
    if env.get("OPTIM_TORCH", "1").lower() in {"true", "y", "yes", "1"}:
        # Same DDP tuning LLaMA-Factory's launcher applies.
        env.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
        env.setdefault("TORCH_NCCL_AVOID_RECORD_STREAMS", "1")
    return subprocess.run(torchrun_command(argv), env=env).returncode


def prepare(argv: Sequence[str]) -> tuple[MetricLossSettings | None, dict[str, Any] | list[str], bool]:
    """Read the config and take our keys out; raise a clear error on anything we refuse.

    Everything here runs before LLaMA-Factory loads data or a model. Returns (settings or None,
    the config for LLaMA-Factory, whether the config had metricsft keys).
    """
    config = read_config(argv)
    where = argv[0] if argv else "command line"
    settings, rest = split_metric_settings(config, where=where)
    if rest == config:
        return None, rest, False  # no metricsft key: `llamafactory-cli train`, untouched
    announce = os.environ.get(ANNOUNCED_ENV) != "1"
    ignored = ignored_metric_args(config, where)
    if ignored and announce:
        warn(ignored_args_warning(ignored, where))
    if settings is not None:
        check_llamafactory_version()
        check_environment()
        validate_settings(settings)
    check_precision(rest, where)
    if settings is not None:
        from metricsft.metric_loss import split_metric_args

        metric_loss = checked_metric_loss(settings, rest, where)
        unused = unused_vocabulary_warning(settings.loss, split_metric_args(settings.args)[0], where)
        if announce:
            say(startup_line(metric_loss))
            if unused is not None:
                warn(unused)
    return settings, rest, True


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return "(required)"


def metric_loss_args_help() -> str:
    """The accepted `metric_loss_args` per loss with their defaults, read from the loss registry."""
    from metricsft.losses import LOSS_NAMES, get_loss
    from metricsft.metric_loss import FUSED_HEAD_KEY, VOCAB_KEYS, parse_fused_head

    lines = ["metric_loss and its metric_loss_args (defaults shown):"]
    for name in LOSS_NAMES:
        spec = get_loss(name)
        lines.append(f"  {name:<8} {spec.summary}")
        args = " ".join(f"{f.name}={yaml_scalar(_default(f))}" for f in dataclasses.fields(spec.args_type))
        lines += textwrap.wrap(args or "(no arguments)", width=100, initial_indent=" " * 11, subsequent_indent=" " * 11)
    lines.append("  vocabulary keys, every loss (default metrics: [digits]):")
    lines.append(" " * 11 + " ".join(VOCAB_KEYS))
    lines.append("  how the trainer runs the output head, every loss (auto | true | false):")
    lines.append(" " * 11 + f"{FUSED_HEAD_KEY}={yaml_scalar(parse_fused_head(None))}")
    return "\n".join(lines)


def _usage() -> str:
    return "usage: metricsft train CONFIG.yaml [key=value ...]   (metricsft train --help for more)"


def train_main(argv: Sequence[str]) -> int:
    """`metricsft train` entry point; returns the process exit code.

    >>> train_main(["tiny_sft.yaml", "metric_loss=ntil", "max_steps=2"])   # doctest: +SKIP
    0
    """
    argv = list(argv)
    if not argv:
        print(f"{_usage()}\nmetricsft train: error: CONFIG.yaml is missing", file=sys.stderr)
        return 2
    if argv[0] in {"-h", "--help"}:
        print(f"{_usage()}\n\n{__doc__.strip()}\n\n{metric_loss_args_help()}")
        return 0
    try:
        settings, config, had_metric_keys = prepare(argv)
    except (MetricSettingsError, UnsupportedConfigError) as err:
        print(f"metricsft train: error: {err}", file=sys.stderr)
        return 2
    if not had_metric_keys:
        return run_llamafactory_cli(argv)  # no metricsft key at all: exactly `llamafactory-cli train`
    if _wants_torchrun():
        return launch_torchrun(argv)
    try:
        return run_in_this_process(settings, config)
    except (MetricSettingsError, UnsupportedConfigError) as err:
        # Raised on LLaMA-Factory's parsed arguments (guards.check_parsed_args) or by MetricLoss's
        # vocabulary options, before any training step.
        print(f"metricsft train: error: {err}", file=sys.stderr)
        return 2
