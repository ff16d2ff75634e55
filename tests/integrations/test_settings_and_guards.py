"""Reading `metric_loss` / `metric_loss_args`, the version range and the environment refusals."""

from __future__ import annotations

import importlib.metadata

import pytest
import torch

from metricsft.integrations.llamafactory.guards import (
    SKIP_VERSION_CHECK_ENV,
    UnsupportedConfigError,
    check_environment,
    check_llamafactory_version,
)
from metricsft.integrations.llamafactory.component_logging import ComponentWindow
from metricsft.integrations.llamafactory.notices import MetricTokenWatch, unused_vocabulary_warning
from metricsft.integrations.llamafactory.preflight import precision_problem
from metricsft.integrations.llamafactory.settings import (
    MetricLossSettings,
    MetricSettingsError,
    ignored_metric_args,
    split_metric_settings,
    validate_settings,
)
from metricsft.losses import LOSS_NAMES


def test_split_mapping_removes_only_our_keys():
    cfg = {"stage": "sft", "metric_loss": "dist2", "metric_loss_args": {"alpha": 0.2}, "seed": 1}
    settings, rest = split_metric_settings(cfg)
    assert settings == MetricLossSettings("dist2", {"alpha": 0.2})
    assert rest == {"stage": "sft", "seed": 1}
    assert "metric_loss" in cfg  # the caller's dict is untouched


def test_split_without_metric_loss_is_none():
    settings, rest = split_metric_settings({"stage": "sft"})
    assert settings is None and rest == {"stage": "sft"}


@pytest.mark.parametrize(
    "argv",
    [
        ["--stage", "sft", "--metric_loss", "ntil", "--metric_loss_args", '{"lam": 0.5}'],
        ["--metric_loss=ntil", "--stage", "sft", "--metric_loss_args={lam: 0.5}"],
    ],
)
def test_split_argument_list(argv):
    settings, rest = split_metric_settings(argv)
    assert settings == MetricLossSettings("ntil", {"lam": 0.5})
    assert rest == ["--stage", "sft"]


def test_args_as_string_and_roundtrip_through_argv():
    settings, _ = split_metric_settings({"metric_loss": "ntil", "metric_loss_args": '{"gumbel": false, "lam": 1}'})
    assert settings.args == {"gumbel": False, "lam": 1}
    again, rest = split_metric_settings(settings.to_argv())
    assert again == settings and rest == []


def test_explicit_null_loss_switches_the_metric_loss_off():
    settings, rest = split_metric_settings({"metric_loss": None, "metric_loss_args": {"lam": 0.3}, "seed": 1})
    assert settings is None and rest == {"seed": 1}


def test_args_without_loss_is_an_error():
    with pytest.raises(MetricSettingsError, match="metric_loss_args is set .* but metric_loss is not"):
        split_metric_settings({"metric_loss_args": {"lam": 0.3}}, where="my.yaml")


@pytest.mark.parametrize("bad", ["[1, 2]", 3, "{lam: 0.3"])
def test_args_must_be_a_mapping(bad):
    with pytest.raises(MetricSettingsError, match="metric_loss_args"):
        split_metric_settings({"metric_loss": "ntil", "metric_loss_args": bad})


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(MetricSettingsError) as err:
        validate_settings(MetricLossSettings("ntl", {}))
    message = str(err.value)
    assert "unknown metric_loss 'ntl'" in message
    for name in LOSS_NAMES:
        assert name in message


def test_unknown_argument_lists_the_valid_ones():
    with pytest.raises(MetricSettingsError) as err:
        validate_settings(MetricLossSettings("ntil", {"lambda": 0.3}))
    message = str(err.value)
    assert "['lambda']" in message and "'ntil'" in message
    for valid in ("lam", "alpha", "beta", "sigma", "gumbel"):
        assert valid in message


def test_bad_argument_value_is_reported():
    with pytest.raises(MetricSettingsError, match="alpha"):
        validate_settings(MetricLossSettings("dist2", {"alpha": -1.0}))


def test_valid_settings_pass():
    validate_settings(MetricLossSettings("dist2", {"alpha": 0.2, "tau": 0.5, "metrics": ["digits"]}))


def test_installed_llamafactory_is_in_the_supported_range():
    # CI pins LLaMA-Factory; this fails the day the pin moves without re-checking the seam.
    installed = importlib.metadata.version("llamafactory")
    assert check_llamafactory_version(env={}) == installed


@pytest.mark.parametrize("version", ["0.9.4", "0.9.6", "1.0.0", "0.9.3.post1"])
def test_versions_outside_the_range_are_refused(version):
    with pytest.raises(UnsupportedConfigError) as err:
        check_llamafactory_version(version, env={})
    assert f"llamafactory {version} is installed" in str(err.value)
    assert SKIP_VERSION_CHECK_ENV in str(err.value)


def test_version_check_can_be_skipped_explicitly():
    assert check_llamafactory_version("0.9.7", env={SKIP_VERSION_CHECK_ENV: "1"}) == "0.9.7"


@pytest.mark.parametrize("version", ["0.9.5", "0.9.5.dev0", "0.9.5.post2"])
def test_supported_versions(version):
    assert check_llamafactory_version(version, env={}) == version


@pytest.mark.parametrize(
    ("name", "words"),
    [("USE_V1", "experimental v1 trainer"), ("USE_RAY", "Ray workers"), ("USE_MCA", "Megatron-Core")],
)
def test_environment_refusals(name, words):
    with pytest.raises(UnsupportedConfigError) as err:
        check_environment({name: "1"})
    assert f"{name}=1" in str(err.value) and words in str(err.value) and f"unset {name}" in str(err.value)


def test_disabled_environment_flags_are_fine():
    check_environment({"USE_V1": "0", "USE_RAY": "false", "USE_MCA": ""})


# --- silent no-ops and precision, judged from the config alone ---------------------------------


@pytest.mark.parametrize(
    ("config", "ignored"),
    [
        ({"metric_loss": None, "metric_loss_args": {"lam": 0.5}}, {"lam": 0.5}),
        ({"metric_loss": "", "metric_loss_args": "{alpha: 0.2}"}, {"alpha": 0.2}),
        (["--metric_loss", "", "--metric_loss_args", '{"lam": 1}'], {"lam": 1}),
        ({"metric_loss": None}, {}),
        ({"metric_loss": "ntil", "metric_loss_args": {"lam": 0.5}}, {}),
        ({"stage": "sft"}, {}),
    ],
)
def test_ignored_metric_args_are_the_arguments_of_a_null_loss(config, ignored):
    assert ignored_metric_args(config) == ignored


def test_unused_vocabulary_warning_only_for_ce_with_vocabulary_keys():
    assert unused_vocabulary_warning("ntil", {"metrics": ["loc"]}, "a.yaml") is None
    assert unused_vocabulary_warning("ce", {}, "a.yaml") is None
    message = unused_vocabulary_warning("ce", {"metrics": ["digits", "loc"]}, "a.yaml")
    assert message.startswith("metric_loss ce (a.yaml) is plain cross-entropy: metric_loss_args {metrics: [digits, loc]}")


# (config, bf16-capable device, any accelerator) -> the start of the refusal, or None
PRECISION_CASES = [
    ({"bf16": True}, False, False, "`bf16: true` (c.yaml): this machine has no GPU with bf16 support"),
    (["--bf16"], False, False, "`bf16: true` (c.yaml)"),
    (["--bf16", "true", "--model_name_or_path", "m"], False, True, "`bf16: true` (c.yaml)"),  # e.g. a pre-Ampere GPU
    ({"bf16": "true", "use_cpu": True}, False, False, None),  # transformers trains bf16 on the CPU when asked
    ({"bf16": True}, True, True, None),
    ({"pure_bf16": True, "use_cpu": True}, False, False, "`pure_bf16: true` (c.yaml)"),
    ({"fp16": True}, False, False, "`fp16: true` (c.yaml): this machine has no GPU"),
    (["--fp16=True", "--use_cpu", "true"], True, True, "`fp16: true` (c.yaml): `use_cpu: true` trains on the CPU"),
    ({"fp16": True}, False, True, None),
    ({"bf16": False, "fp16": False}, False, False, None),
]


@pytest.mark.parametrize(("config", "bf16_ok", "accelerator", "expected"), PRECISION_CASES)
def test_precision_problems(config, bf16_ok, accelerator, expected):
    problem = precision_problem(config, "c.yaml", bf16_supported=bf16_ok, has_accelerator=accelerator)
    if expected is None:
        assert problem is None
    else:
        assert problem.startswith(expected) and "Set " in problem and "\n" not in problem


def test_metric_token_watch_warns_once_after_the_step_limit():
    watch = MetricTokenWatch(steps=3)
    assert watch.observe(step=1, metric_tokens=0.0) is None
    assert watch.observe(step=2, metric_tokens=0.0) is None
    message = watch.observe(step=3, metric_tokens=0.0)
    assert message.startswith("no metric token in the labels of the first 3 optimizer steps")
    assert watch.observe(step=4, metric_tokens=0.0) is None  # once


def test_metric_token_watch_is_quiet_once_a_metric_token_was_seen():
    watch = MetricTokenWatch(steps=2)
    assert watch.observe(step=1, metric_tokens=3.0) is None
    assert watch.observe(step=5, metric_tokens=0.0) is None


def test_component_window_feeds_the_watch_the_window_total(capsys):
    """Two logging windows of 2 steps each; the watch sees counts summed over each window."""
    window = ComponentWindow(watch=MetricTokenWatch(steps=4))
    for step in range(4):
        window.add({"ce": torch.tensor(1.0), "metric_tokens": torch.tensor(0.0)}, step=step)
        if step % 2 == 1:
            window.pop_means(step=step + 1)
    assert "metricsft train: warning: no metric token in the labels of the first 4 optimizer steps" in capsys.readouterr().err

    seen = ComponentWindow(watch=MetricTokenWatch(steps=2))
    seen.add({"metric_tokens": torch.tensor(2.0)}, step=0)
    seen.add({"metric_tokens": torch.tensor(0.0)}, step=1)
    assert seen.pop_means(step=2) == {"metricsft/metric_tokens": 1.0}
    assert seen.watch.seen == 2.0
    assert capsys.readouterr().err == ""
