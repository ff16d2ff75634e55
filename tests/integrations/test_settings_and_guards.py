"""Reading `metric_loss` / `metric_loss_args`, the version range and the environment refusals."""

from __future__ import annotations

import importlib.metadata

import pytest

from metricsft.integrations.llamafactory.guards import (
    SKIP_VERSION_CHECK_ENV,
    UnsupportedConfigError,
    check_environment,
    check_llamafactory_version,
)
from metricsft.integrations.llamafactory.settings import (
    MetricLossSettings,
    MetricSettingsError,
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
