"""Checks `metricsft train` runs right after reading the config, before any data or model loading.

A mistake that LLaMA-Factory would only hit after tokenising the dataset and loading the model
(tens of seconds to minutes) is reported here in one line, from the config and the tokenizer:

* `bf16` / `fp16` on a machine without a device that supports them (transformers would raise its
  own multi-line error from deep inside argument parsing; fp16 would silently not be mixed
  precision at all on a CPU);
* the metric vocabulary against the tokenizer LLaMA-Factory will train with (e.g. `metrics: [loc]`
  on a tokenizer without `<locNNNN>` tokens, a `value_map` whose tokens it does not have);
* the argument combinations `guards.check_parsed_args` refuses.

On success it returns the `MetricLoss` the trainer will build, so the start-up line can say which
loss, arguments and metric vocabulary were installed.

    >>> precision_problem({"bf16": True}, "my.yaml", bf16_supported=False, has_accelerator=False)
    '`bf16: true` (my.yaml): this machine has no GPU with bf16 support. Set bf16: false to train in fp32, or use_cpu: true to train in bf16 on the CPU (slow).'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metricsft.integrations.llamafactory.guards import UnsupportedConfigError, check_parsed_args
from metricsft.integrations.llamafactory.notices import yaml_scalar
from metricsft.integrations.llamafactory.settings import MetricLossSettings, MetricSettingsError

if TYPE_CHECKING:
    from metricsft.metric_loss import MetricLoss


@dataclass
class PrecisionFlags:
    """The config keys that decide the training precision and device (read with HF's own parser)."""

    bf16: bool = False
    fp16: bool = False
    pure_bf16: bool = False
    use_cpu: bool = False


def read_precision_flags(config: dict[str, Any] | list[str]) -> PrecisionFlags:
    """`bf16` / `fp16` / `pure_bf16` / `use_cpu` from a config mapping or a `--key value` list.

    Parsed by `HfArgumentParser`, like LLaMA-Factory's own parser, so `bf16: "true"`,
    `--bf16`, `--bf16 true` and `--bf16=True` all mean the same thing here as there.
    """
    from transformers import HfArgumentParser

    parser = HfArgumentParser(PrecisionFlags)
    if isinstance(config, dict):
        (flags,) = parser.parse_dict(config, allow_extra_keys=True)
    else:
        flags, _rest = parser.parse_args_into_dataclasses(args=list(config), return_remaining_strings=True)
    return flags


def _device_support() -> tuple[bool, bool]:
    """(a device with bf16 support, any accelerator at all), by transformers' own bf16 rule."""
    import torch
    from transformers.utils import is_torch_bf16_gpu_available, is_torch_xla_available

    accelerator = torch.accelerator.is_available() if hasattr(torch, "accelerator") else torch.cuda.is_available()
    return is_torch_bf16_gpu_available() or is_torch_xla_available(), accelerator


def precision_problem(
    config: dict[str, Any] | list[str],
    where: str,
    bf16_supported: bool | None = None,
    has_accelerator: bool | None = None,
) -> str | None:
    """The one-line refusal for a precision this machine cannot train in, or None.

    bf16 is refused exactly where transformers' `TrainingArguments` would refuse it (no bf16
    device and no `use_cpu`); `pure_bf16` where LLaMA-Factory would. fp16 is refused on a machine
    with no accelerator or with `use_cpu`: Accelerate has no fp16 autocast on the CPU, so the run
    would load fp16 weights without mixed precision.
    """
    flags = read_precision_flags(config)
    if bf16_supported is None or has_accelerator is None:
        detected_bf16, detected_accelerator = _device_support()
        bf16_supported = detected_bf16 if bf16_supported is None else bf16_supported
        has_accelerator = detected_accelerator if has_accelerator is None else has_accelerator
    if flags.bf16 and not flags.use_cpu and not bf16_supported:
        return (
            f"`bf16: true` ({where}): this machine has no GPU with bf16 support. Set bf16: false to train "
            "in fp32, or use_cpu: true to train in bf16 on the CPU (slow)."
        )
    if flags.pure_bf16 and not bf16_supported:
        return f"`pure_bf16: true` ({where}): this machine has no GPU with bf16 support. Set pure_bf16: false."
    if flags.fp16 and (flags.use_cpu or not has_accelerator):
        device = "`use_cpu: true` trains on the CPU" if flags.use_cpu else "this machine has no GPU"
        return (
            f"`fp16: true` ({where}): {device}, where fp16 mixed precision does not exist. Set fp16: false "
            "to train in fp32 (or bf16: true with use_cpu: true), or run on a GPU."
        )
    return None


def check_precision(config: dict[str, Any] | list[str], where: str) -> None:
    """Raise `UnsupportedConfigError` for a precision this machine cannot train in."""
    problem = precision_problem(config, where)
    if problem is not None:
        raise UnsupportedConfigError(problem)


def checked_metric_loss(settings: MetricLossSettings, config: dict[str, Any] | list[str], where: str) -> MetricLoss:
    """Parse `config` with LLaMA-Factory's parser, apply the refusals and build the `MetricLoss`
    from the tokenizer LLaMA-Factory will load (its `load_tokenizer`: added tokens included).

    Raises `UnsupportedConfigError` / `MetricSettingsError` with a one-line message.
    """
    from llamafactory.hparams.parser import _parse_train_args
    from llamafactory.model import load_tokenizer

    from metricsft.metric_loss import MetricLoss

    model_args, _data_args, _training_args, finetuning_args, _generating_args = _parse_train_args(config)
    check_parsed_args(model_args, finetuning_args)
    model_path = model_args.model_name_or_path
    tokenizer = load_tokenizer(model_args)["tokenizer"]
    try:
        return MetricLoss(tokenizer, settings.loss, dict(settings.args))
    except (ValueError, FileNotFoundError) as err:  # re-raised as the one-line CLI error, never dropped
        raise MetricSettingsError(f"metric_loss_args ({where}) do not fit the tokenizer of {model_path}: {err}") from err


def startup_line(metric_loss: MetricLoss) -> str:
    """What was installed, in one line: loss, every resolved argument, metric vocabulary by group.

    e.g. `metric_loss ntil (lam=0.3, alpha=0.2, ...); metric vocabulary: 20 of 128,256 tokens in
    2 groups (digits/w1 10, digits/w1/'Ġ' 10)`.
    """
    described = metric_loss.describe()
    args = ", ".join(f"{name}={yaml_scalar(value)}" for name, value in described["args"].items())
    vocabulary = described["vocabulary"]
    groups = ", ".join(f"{g['name']} {g['size']}" for g in vocabulary["groups"])
    return (
        f"metric_loss {described['loss']} ({args or 'no arguments'}); metric vocabulary: "
        f"{vocabulary['metric_tokens']:,} of {vocabulary['vocab_size']:,} tokens in {len(vocabulary['groups'])} "
        f"group(s) ({groups})"
    )
