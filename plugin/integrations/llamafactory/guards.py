"""What `metricsft train` refuses, and the LLaMA-Factory versions it supports.

The metric loss reaches LLaMA-Factory through one seam (see `trainer.py`): the SFT workflow's
`CustomSeq2SeqTrainer`. Every path that does not build that trainer, or that replaces its
`compute_loss_func` with another loss, would silently train with plain cross-entropy. Those
paths are refused here with an error that says what to change, never skipped quietly.

    >>> check_environment({})                      # nothing set: fine
    >>> check_environment({"USE_V1": "1"})         # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    UnsupportedConfigError: ...
"""

from __future__ import annotations

import importlib.metadata
import os
from typing import Any, Mapping

from packaging.version import Version

# The seam was read and tested against 0.9.5. A new LLaMA-Factory release may
# rename the workflow's trainer or add its own loss flags, so anything outside the range is an
# error until someone re-checks the facts and widens it.
SUPPORTED_LLAMAFACTORY_MIN = Version("0.9.5")  # inclusive
SUPPORTED_LLAMAFACTORY_BELOW = Version("0.9.6")  # exclusive
SUPPORTED_RANGE_TEXT = f">={SUPPORTED_LLAMAFACTORY_MIN},<{SUPPORTED_LLAMAFACTORY_BELOW}"
SKIP_VERSION_CHECK_ENV = "METRICSFT_SKIP_LLAMAFACTORY_VERSION_CHECK"

# LLaMA-Factory's own alternative losses: each sets `compute_loss_func` in the trainer, so it
# cannot be combined with ours (the last writer would win silently).
CONFLICTING_LOSS_FLAGS = ("use_dft_loss", "use_eaft_loss", "use_asft_loss")


class UnsupportedConfigError(ValueError):
    """A configuration `metricsft train` cannot run with a metric loss (the message says why and what to do)."""


def _is_enabled(value: Any) -> bool:
    # Same truthiness as LLaMA-Factory's `is_env_enabled` for environment strings.
    if isinstance(value, str):
        return value.strip().lower() in {"true", "y", "yes", "1"}
    return bool(value)


def check_llamafactory_version(version: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """Return the installed LLaMA-Factory version; raise if it is outside the supported range.

    >>> check_llamafactory_version("0.9.5")
    '0.9.5'
    """
    env = os.environ if env is None else env
    if version is None:
        try:
            version = importlib.metadata.version("llamafactory")
        except importlib.metadata.PackageNotFoundError as err:
            raise UnsupportedConfigError(
                "metricsft train needs LLaMA-Factory: install it with `pip install 'metricsft[train]'` "
                f"(supported llamafactory versions: {SUPPORTED_RANGE_TEXT})."
            ) from err
    parsed = Version(version)
    # Compare release numbers only, so 0.9.5.dev0 / 0.9.5.post1 count as 0.9.5.
    release = Version(".".join(str(p) for p in parsed.release))
    if SUPPORTED_LLAMAFACTORY_MIN <= release < SUPPORTED_LLAMAFACTORY_BELOW:
        return version
    if _is_enabled(env.get(SKIP_VERSION_CHECK_ENV, "")):
        return version
    raise UnsupportedConfigError(
        f"llamafactory {version} is installed, but metricsft supports llamafactory{SUPPORTED_RANGE_TEXT}: "
        "its metric-loss seam was checked against those versions only. Install a supported version "
        f"(`pip install 'llamafactory{SUPPORTED_RANGE_TEXT}'`) or, at your own risk, set "
        f"{SKIP_VERSION_CHECK_ENV}=1."
    )


def check_environment(env: Mapping[str, str] | None = None) -> None:
    """Refuse the launch modes that run training outside the patched process.

    USE_V1 switches to LLaMA-Factory's experimental v1 trainer, USE_RAY runs `_training_function`
    in Ray workers that never import our seam, and USE_MCA trains with Megatron-Core's trainer.
    """
    env = os.environ if env is None else env
    reasons = {
        "USE_V1": "selects LLaMA-Factory's experimental v1 trainer, which does not use the SFT trainer metricsft patches",
        "USE_RAY": "runs training in Ray workers that do not load the metricsft loss",
        "USE_MCA": "trains with the Megatron-Core (mcore_adapter) trainer, which has no compute_loss_func seam",
    }
    for name, reason in reasons.items():
        if _is_enabled(env.get(name, "")):
            raise UnsupportedConfigError(
                f"environment variable {name}={env[name]} {reason}; unset {name} to train with metric_loss, "
                "or drop metric_loss to run plain LLaMA-Factory."
            )


def check_parsed_args(model_args: Any, finetuning_args: Any) -> None:
    """Refuse argument combinations that bypass or override the metric loss.

    Called on LLaMA-Factory's own parsed dataclasses, so every way of writing an argument
    (YAML, `key=value` override, `--key value`) is judged the same way.
    """
    stage = getattr(finetuning_args, "stage", "sft")
    if stage != "sft":
        raise UnsupportedConfigError(
            f"metric_loss works with `stage: sft` only, got `stage: {stage}` (the metric loss is a "
            "supervised token loss; preference/reward stages have their own objectives). Set stage: sft "
            "or remove metric_loss."
        )
    for flag in CONFLICTING_LOSS_FLAGS:
        if getattr(finetuning_args, flag, False):
            raise UnsupportedConfigError(
                f"`{flag}: true` and `metric_loss` both replace the SFT loss; LLaMA-Factory would keep only "
                f"one of them. Remove {flag} or remove metric_loss."
            )
    if getattr(finetuning_args, "use_mca", False):
        raise UnsupportedConfigError(
            "`use_mca` (Megatron-Core) trains with a trainer that metricsft does not patch; unset USE_MCA "
            "or remove metric_loss."
        )
    if getattr(finetuning_args, "use_hyper_parallel", False):
        raise UnsupportedConfigError(
            "`use_hyper_parallel: true` trains with LLaMA-Factory's hyper-parallel SFT trainer, which "
            "metricsft does not patch; remove use_hyper_parallel or remove metric_loss."
        )
    if getattr(model_args, "enable_liger_kernel", False):
        raise UnsupportedConfigError(
            "`enable_liger_kernel: true` fuses the LM head with cross-entropy. metricsft's own fused head "
            "(on by default) already skips the logits where there are no labels; Liger's other kernels "
            "together with it were verified on a GPU only outside LLaMA-Factory (Qwen2, Llama), so "
            "metricsft train does not combine them yet. Remove enable_liger_kernel (or set it to false) "
            "to train with metric_loss."
        )
