"""Generation backends: `hf` (transformers generate), `vllm` (offline engine), `openai` (HTTP client).

    >>> from metricsft.eval.backends import make_backend, Request
    >>> backend = make_backend("hf", model="path/to/model", batch_size=4)   # doctest: +SKIP
    >>> dict(backend.generate([Request("q1", [{"role": "user", "content": "Hi"}], max_new_tokens=8)]))  # doctest: +SKIP

Each backend module imports its heavy dependency (torch/transformers, vllm, httpx) only when built,
so importing this package is cheap and works without vllm installed.
"""

from __future__ import annotations

from typing import Any

from metricsft.eval.backends.base import Backend, BackendError, Request
from metricsft.registry import Registry

# name -> backend class, imported when that backend is built (vllm is not installed next to hf)
BACKENDS: Registry[type[Backend]] = Registry("backend", {
    "hf": "metricsft.eval.backends.hf:HFBackend",
    "vllm": "metricsft.eval.backends.vllm_offline:VLLMBackend",
    "openai": "metricsft.eval.backends.openai_compat:OpenAIBackend",
})
# The class a backend name builds when data_parallel_size > 1: one engine process per replica.
DATA_PARALLEL_BACKENDS: Registry[type[Backend]] = Registry("data-parallel backend", {
    "vllm": "metricsft.eval.backends.vllm_data_parallel:DataParallelVLLMBackend",
})


def _backend_class(name: str, kwargs: dict[str, Any]) -> type[Backend]:
    """The class for ``name``; takes ``data_parallel_size`` out of ``kwargs`` for classes that do not use it."""
    if name in DATA_PARALLEL_BACKENDS and kwargs.get("data_parallel_size", 1) > 1:
        return DATA_PARALLEL_BACKENDS.load(name)
    kwargs.pop("data_parallel_size", None)
    return BACKENDS.load(name)


def make_backend(name: str, **kwargs: Any) -> Backend:
    """Build backend `name` with its own keyword arguments (see each class).

    >>> make_backend("tgi", model="m")
    Traceback (most recent call last):
    ...
    ValueError: unknown backend 'tgi'; choose one of: hf, vllm, openai
    """
    BACKENDS.check(name)  # an unknown name is refused before anything is imported
    try:
        return _backend_class(name, kwargs)(**kwargs)
    except ModuleNotFoundError as error:
        if error.name != "vllm":
            raise
        raise ModuleNotFoundError(
            "the vllm backend needs vLLM, which lives in its own environment: run "
            "`bash .ci/build_vllm_env.sh` and use `.venv-vllm/bin/metricsft eval ...` (or `pip install vllm`)",
            name="vllm",
        ) from error

__all__ = ["BACKENDS", "DATA_PARALLEL_BACKENDS", "Backend", "BackendError", "Request", "make_backend"]
