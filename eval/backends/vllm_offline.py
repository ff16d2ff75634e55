"""vLLM offline backend: continuous batching in-process, greedy or seeded samples, images via `multi_modal_data`, LoRA.

    >>> backend = VLLMBackend("path/to/model", tensor_parallel_size=2)   # doctest: +SKIP
    >>> for row_id, text in backend.generate(requests):                  # doctest: +SKIP
    ...     cache.append(row_id, text)

Requests are queued with `LLM.enqueue` and the engine is stepped here (what `LLM.generate` does
internally) so each answer is handed over the moment it finishes instead of when the whole batch
does: the runner caches it at once and a crash loses only what was in flight.

`vllm` is imported only when this backend is built: it lives in its own environment
(`.ci/build_vllm_env.sh`) because it pins other torch/transformers versions than LLaMA-Factory.
For `data_parallel_size > 1` see `vllm_data_parallel.py` (one engine process per replica).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from metricsft.eval.backends.base import BackendError, Request, SamplingSpec, check_request, load_image
from metricsft.eval.backends.chat import PromptRenderer, decode_answer, load_chat_tokenizers, stop_token_ids

DTYPES = ("auto", "float32", "bfloat16", "float16")


def _on_cpu() -> bool:
    import torch

    return not torch.cuda.is_available()


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        max_model_len: int | None = None,
        enforce_eager: bool | None = None,
        max_in_flight: int = 1024,
        seed: int = 0,
        share_prompt_prefill: bool = False,
        **engine_kwargs: Any,
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of {DTYPES}")
        on_cpu = _on_cpu()
        # vLLM logs to stdout by default, which would corrupt `metricsft eval --json`; keep stdout for results.
        os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
        if on_cpu:
            # vLLM's CPU backend otherwise reserves most of the machine's RAM for the KV cache.
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
        from vllm import LLM

        self.model_path, self.adapter, self.max_in_flight = model, adapter, max_in_flight
        self.share_prompt_prefill = share_prompt_prefill  # see generate_samples
        self.template_owner, self.tokenizer, self.model_type, self.is_vision = load_chat_tokenizers(model)
        self.renderer = PromptRenderer(self.template_owner, self.model_type, self.is_vision)
        self.stop_ids = stop_token_ids(_generation_config(model), self.tokenizer)
        # CUDA graphs pay off on GPUs; on CPU, compiling costs ~60 s at every start for no gain here.
        self.enforce_eager = on_cpu if enforce_eager is None else enforce_eager
        # fp32 on CPU: bf16 there changes greedy outputs (and is what vLLM-CPU picks for "auto").
        self.dtype = "float32" if (dtype == "auto" and on_cpu) else dtype
        kwargs: dict[str, Any] = dict(
            model=model, tensor_parallel_size=tensor_parallel_size, dtype=self.dtype, seed=seed,
            enforce_eager=self.enforce_eager, **engine_kwargs,
        )
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        self.lora_request = None
        if adapter:
            from vllm.lora.request import LoRARequest

            kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=_lora_rank(adapter))
            self.lora_request = LoRARequest("adapter", 1, str(adapter))
        self.engine_kwargs = {k: v for k, v in kwargs.items() if k != "model"}
        self.llm = LLM(**kwargs)

    def describe(self) -> dict[str, Any]:
        import vllm

        return {
            "backend": self.name, "model": self.model_path, "adapter": self.adapter, "model_type": self.model_type,
            "vllm_version": vllm.__version__, "decoding": "greedy", "prompt_mode": self.renderer.mode, **self.engine_kwargs,
        }

    def prompt_text(self, request: Request) -> str:
        return self.renderer.render(request.messages, bool(request.images))

    def engine_prompt(self, request: Request) -> dict[str, Any]:
        """The prompt as vLLM takes it; text models get token ids made exactly like the HF backend's."""
        check_request(request)
        text = self.prompt_text(request)
        if request.images:
            return {"prompt": text, "multi_modal_data": {"image": [load_image(p) for p in request.images]}}
        return {"prompt_token_ids": self.tokenizer(text, add_special_tokens=self.renderer.add_special_tokens)["input_ids"]}

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[str, str]]:
        from vllm import SamplingParams

        def greedy(request: Request) -> Any:
            return SamplingParams(
                temperature=0.0, max_tokens=request.max_new_tokens, skip_special_tokens=False, detokenize=False
            )

        for row_id, output in self._stream(requests, greedy):
            yield row_id, decode_answer(self.tokenizer, output.outputs[0].token_ids, self.stop_ids)

    def generate_samples(self, requests: Sequence[Request], spec: SamplingSpec) -> Iterator[tuple[str, list[str]]]:
        """``spec.n`` samples per row in ONE request (``SamplingParams(n=...)``), seeded per row so that
        batching changes nothing.

        vLLM fans such a request out into n child sequences scheduled together. `share_prompt_prefill`
        first prefills each chunk's prompts with a one-token request so the children read the prompt's KV
        blocks from the prefix cache; on CPU with SmolLM2 (bench/mbr_cost.py) that extra pass cost more
        than it saved (8 samples: 1.9x greedy with it, 1.3x without), so it is off by default. The
        samples are the same either way: only where the prompt's KV cache comes from differs.
        """
        from vllm import SamplingParams

        def sampled(request: Request) -> Any:
            return SamplingParams(
                n=spec.n, temperature=spec.temperature, top_p=spec.top_p, seed=spec.row_seed(request.id),
                max_tokens=request.max_new_tokens, skip_special_tokens=False, detokenize=False,
            )

        def prefill_only(request: Request) -> Any:
            return SamplingParams(temperature=0.0, max_tokens=1, detokenize=False)

        for start in range(0, len(requests), self.max_in_flight):
            chunk = requests[start:start + self.max_in_flight]
            if self.share_prompt_prefill:
                for _ in self._stream(chunk, prefill_only):
                    pass
            for row_id, output in self._stream(chunk, sampled):
                samples = sorted(output.outputs, key=lambda completion: completion.index)
                if len(samples) != spec.n:
                    raise BackendError(f"row {row_id!r}: vLLM returned {len(samples)} samples, asked for {spec.n}")
                yield row_id, [decode_answer(self.tokenizer, c.token_ids, self.stop_ids) for c in samples]

    def _stream(self, requests: Sequence[Request], params_for: Callable[[Request], Any]) -> Iterator[tuple[str, Any]]:
        """Keep up to `max_in_flight` rows queued, step the engine, yield each row's output when finished."""
        engine = self.llm.llm_engine
        if engine.has_unfinished_requests():
            raise BackendError("the vLLM engine still has requests from an interrupted generate(); build a new backend")
        queue = iter(requests)
        row_of: dict[str, str] = {}  # vLLM request id -> our row id
        keys_of: dict[str, tuple[str, ...]] = {}  # our row id -> its keys in row_of (= the rows in flight)

        def top_up() -> None:
            while len(keys_of) < self.max_in_flight:
                request = next(queue, None)
                if request is None:
                    return
                prompt = self.engine_prompt(request)
                try:
                    ids = self.llm.enqueue(prompt, params_for(request), lora_request=self.lora_request, use_tqdm=False)
                except ValueError as error:  # e.g. prompt longer than max_model_len
                    raise BackendError(f"row {request.id!r}: vLLM rejected the prompt: {error}") from error
                # enqueue returns the engine's internal id ("<external>-<random suffix>" in vLLM >= 0.11)
                # while outputs carry the external one: accept either.
                keys_of[request.id] = (ids[0], ids[0].rsplit("-", 1)[0])
                row_of.update(dict.fromkeys(keys_of[request.id], request.id))

        top_up()
        while keys_of:
            for output in engine.step():
                if not output.finished:
                    continue
                row_id = row_of.get(output.request_id)
                if row_id is None:
                    raise BackendError(f"vLLM returned an output for unknown request id {output.request_id!r}")
                for key in keys_of.pop(row_id):
                    row_of.pop(key, None)
                yield row_id, output
            top_up()

    def close(self) -> None:
        self.llm = None


def _generation_config(model: str) -> Any:
    """The model's generation config (its EOS ids decide where answers stop), as HF derives it."""
    import transformers

    if (Path(model) / "generation_config.json").is_file():
        return transformers.GenerationConfig.from_pretrained(model)
    return transformers.GenerationConfig.from_model_config(transformers.AutoConfig.from_pretrained(model))


def _lora_rank(adapter: str) -> int:
    """vLLM preallocates LoRA buffers for `max_lora_rank`: take it from the adapter itself."""
    config_path = Path(adapter) / "adapter_config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"--adapter {adapter!r}: no adapter_config.json (expected a PEFT LoRA directory)")
    rank = int(json.loads(config_path.read_text()).get("r", 16))
    # vLLM accepts only these ranks; round up to the next one.
    return next(r for r in (1, 8, 16, 32, 64, 128, 256, 320, 512) if r >= rank)
