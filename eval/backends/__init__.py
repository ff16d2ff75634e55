"""Generation backends: `hf` (transformers generate), `vllm` (offline engine), `openai` (HTTP client).

    >>> from metricsft.eval.backends import make_backend, Request
    >>> backend = make_backend("hf", model="path/to/model", batch_size=4)   # doctest: +SKIP
    >>> dict(backend.generate([Request("q1", [{"role": "user", "content": "Hi"}], max_new_tokens=8)]))  # doctest: +SKIP

Each backend module imports its heavy dependency (torch/transformers, vllm, httpx) only when built,
so importing this package is cheap and works without vllm installed.
"""

from __future__ import annotations

import importlib
from typing import Any

from metricsft.eval.backends.base import Backend, BackendError, Request

BACKENDS: dict[str, str] = {
    "hf": "metricsft.eval.backends.hf:HFBackend",
    "vllm": "metricsft.eval.backends.vllm_offline:VLLMBackend",
    "openai": "metricsft.eval.backends.openai_compat:OpenAIBackend",
}


def make_backend(name: str, **kwargs: Any) -> Backend:
    """Build backend `name` with its own keyword arguments (see each class)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[name].split(":")
    if name == "vllm" and kwargs.get("data_parallel_size", 1) > 1:
        module_name, class_name = "metricsft.eval.backends.vllm_data_parallel", "DataParallelVLLMBackend"
    else:
        kwargs.pop("data_parallel_size", None)
    try:
        return getattr(importlib.import_module(module_name), class_name)(**kwargs)
    except ModuleNotFoundError as error:
        if error.name != "vllm":
            raise
        raise ModuleNotFoundError(
            "the vllm backend needs vLLM, which lives in its own environment: run "
            "`bash .ci/build_vllm_env.sh` and use `.venv-vllm/bin/metricsft eval ...` (or `pip install vllm`)",
            name="vllm",
        ) from error

__all__ = ["BACKENDS", "Backend", "BackendError", "Request", "make_backend"]
