"""Backend registry: clear errors for unknown names, a missing vLLM, and impossible parallel layouts."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from metricsft.eval.backends import BACKENDS, make_backend


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError, match="^unknown backend 'tgi'; choose one of: hf, vllm, openai$"):
        make_backend("tgi", model="m")
    with pytest.raises(ValueError, match="unknown backend 'vlm'; choose one of: .*; did you mean 'vllm'"):
        make_backend("vlm", model="m")
    assert BACKENDS.names == ("hf", "vllm", "openai")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed in this environment")
def test_missing_vllm_points_to_the_venv_builder():
    with pytest.raises(ModuleNotFoundError, match=r"bash \.ci/build_vllm_env\.sh"):
        make_backend("vllm", model="m")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has GPUs")
def test_data_parallel_needs_gpus():
    with pytest.raises(ValueError, match="--data-parallel-size 2 needs GPUs"):
        make_backend("vllm", model="m", data_parallel_size=2)
