"""The two keys `metricsft train` adds to a LLaMA-Factory config, and how they are read.

LLaMA-Factory rejects unknown keys (or drops them under ALLOW_EXTRA_ARGS=1), so our keys must be
taken out before its parser sees the config. Both config forms LLaMA-Factory accepts are handled:
a mapping (YAML/JSON file plus `key=value` overrides) and a `--key value` argument list.

    >>> cfg = {"stage": "sft", "metric_loss": "ntil", "metric_loss_args": {"lam": 0.5}}
    >>> settings, rest = split_metric_settings(cfg)
    >>> settings
    MetricLossSettings(loss='ntil', args={'lam': 0.5})
    >>> rest
    {'stage': 'sft'}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

LOSS_KEY = "metric_loss"
ARGS_KEY = "metric_loss_args"


class MetricSettingsError(ValueError):
    """`metric_loss` / `metric_loss_args` are malformed (the message names the key and the fix)."""


@dataclass(frozen=True)
class MetricLossSettings:
    """Which metric loss to train with and its arguments, as written in the config."""

    loss: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_argv(self) -> list[str]:
        """`--metric_loss X --metric_loss_args JSON`: how settings travel to torchrun workers."""
        return [f"--{LOSS_KEY}", self.loss, f"--{ARGS_KEY}", json.dumps(self.args)]


def _parse_args_value(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        # From `--metric_loss_args '{"lam": 0.5}'` or `metric_loss_args='{lam: 0.5}'`: JSON is YAML.
        try:
            value = yaml.safe_load(value) if value.strip() else {}
        except yaml.YAMLError as err:
            raise MetricSettingsError(
                f"{ARGS_KEY} ({where}) is not valid JSON/YAML: {err}. Write it as a mapping, e.g. "
                f"{ARGS_KEY}: {{lam: 0.3, sigma: 0.2}}"
            ) from err
        if value is None:
            value = {}
    if not isinstance(value, Mapping):
        raise MetricSettingsError(
            f"{ARGS_KEY} ({where}) must be a mapping of argument names to values, got "
            f"{type(value).__name__} {value!r}; e.g. {ARGS_KEY}: {{lam: 0.3}}"
        )
    bad_keys = [k for k in value if not isinstance(k, str)]
    if bad_keys:
        raise MetricSettingsError(f"{ARGS_KEY} ({where}) has non-string argument names {bad_keys!r}")
    return dict(value)


def _build(loss: Any, args: Any, where: str, loss_written: bool) -> MetricLossSettings | None:
    if loss is None or (isinstance(loss, str) and not loss.strip()):
        # An explicit `metric_loss: null` (e.g. the override `metric_loss=null`) switches the loss
        # off and ignores the arguments; arguments without any metric_loss line are a mistake.
        if not loss_written and args not in (None, {}, ""):
            raise MetricSettingsError(
                f"{ARGS_KEY} is set ({where}) but {LOSS_KEY} is not; add e.g. `{LOSS_KEY}: ntil` or "
                f"remove {ARGS_KEY}."
            )
        return None
    if not isinstance(loss, str):
        raise MetricSettingsError(f"{LOSS_KEY} ({where}) must be a loss name string, got {loss!r}")
    return MetricLossSettings(loss=loss.strip(), args=_parse_args_value(args, where))


def _split_argv(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Take `--metric_loss[=]X` and `--metric_loss_args[=]Y` out of an argument list."""
    found: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        item = argv[i]
        for key in (LOSS_KEY, ARGS_KEY):
            flag = f"--{key}"
            if item == flag:
                if i + 1 >= len(argv):
                    raise MetricSettingsError(f"{flag} needs a value, e.g. {flag} ntil")
                found[key] = argv[i + 1]
                i += 2
                break
            if item.startswith(flag + "="):
                found[key] = item[len(flag) + 1 :]
                i += 1
                break
        else:
            rest.append(item)
            i += 1
    return found, rest


def split_metric_settings(
    config: Mapping[str, Any] | list[str], where: str = "config"
) -> tuple[MetricLossSettings | None, dict[str, Any] | list[str]]:
    """Return (our settings or None, the config LLaMA-Factory should see) without mutating `config`.

    >>> split_metric_settings(["--stage", "sft", "--metric_loss=dist2"])
    (MetricLossSettings(loss='dist2', args={}), ['--stage', 'sft'])
    """
    if isinstance(config, Mapping):
        rest = {k: v for k, v in config.items() if k not in (LOSS_KEY, ARGS_KEY)}
        return _build(config.get(LOSS_KEY), config.get(ARGS_KEY), where, LOSS_KEY in config), rest
    found, rest_list = _split_argv(list(config))
    return _build(found.get(LOSS_KEY), found.get(ARGS_KEY), where, LOSS_KEY in found), rest_list


def ignored_metric_args(config: Mapping[str, Any] | list[str], where: str = "config") -> dict[str, Any]:
    """The `metric_loss_args` that an explicit `metric_loss: null` switches off (empty if none).

    `split_metric_settings` accepts that combination on purpose (`metric_loss=null` on the
    command line turns a YAML's metric loss off); this tells the caller what it will ignore.

    >>> ignored_metric_args({"metric_loss": None, "metric_loss_args": {"lam": 0.5}})
    {'lam': 0.5}
    """
    found = config if isinstance(config, Mapping) else _split_argv(list(config))[0]
    if LOSS_KEY not in found or _build(found[LOSS_KEY], None, where, True) is not None:
        return {}
    return _parse_args_value(found.get(ARGS_KEY), where)


def validate_settings(settings: MetricLossSettings) -> None:
    """Check the loss name and its arguments before any model is loaded.

    Vocabulary keys (`metrics`, `value_map`, `codebook_*`) need the tokenizer and are checked when
    the trainer builds the loss.
    """
    from metricsft.losses import LOSS_NAMES, get_loss
    from metricsft.metric_loss import FUSED_HEAD_KEY, VOCAB_KEYS, parse_fused_head, split_metric_args
    from metricsft.registry import check_arguments, unknown_name_error

    if settings.loss not in LOSS_NAMES:  # the shared wording, raised as the settings error train reports
        raise MetricSettingsError(str(unknown_name_error(LOSS_KEY, settings.loss, LOSS_NAMES)))
    spec = get_loss(settings.loss)
    _vocab_args, loss_args = split_metric_args(settings.args)
    allowed = spec.arg_names() + list(VOCAB_KEYS) + [FUSED_HEAD_KEY]
    try:
        check_arguments(loss_args, allowed, ARGS_KEY, f" for {LOSS_KEY} {settings.loss!r}")
    except ValueError as err:
        raise MetricSettingsError(str(err)) from err
    try:
        parse_fused_head(settings.args.get(FUSED_HEAD_KEY))
        spec.parse_args(loss_args)
    except (TypeError, ValueError) as err:
        raise MetricSettingsError(f"{ARGS_KEY}: {err}") from err
