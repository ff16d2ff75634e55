"""Hugging Face `generate` backend: batched, left-padded, greedy (or seeded samples for MBR). For small runs, CPU and debugging.

    >>> backend = HFBackend("path/to/model", batch_size=8)          # doctest: +SKIP
    >>> dict(backend.generate([Request("q1", [{"role": "user", "content": "2+2="}], max_new_tokens=4)]))  # doctest: +SKIP
    {'q1': '4'}

Vision-language models (any type in transformers' image-text-to-text mapping) are loaded with
their processor, so images go through exactly the preprocessing the model was trained with.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from metricsft.eval.backends.base import Request, SamplingSpec, check_request, load_image
from metricsft.eval.backends.chat import PromptRenderer, decode_answer, load_chat_tokenizers, stop_token_ids

DTYPES = ("auto", "float32", "bfloat16", "float16")


class HFBackend:
    name = "hf"

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        batch_size: int = 8,
        dtype: str = "auto",
        device: str | None = None,
    ) -> None:
        import torch
        import transformers

        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of {DTYPES}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_path, self.adapter, self.batch_size = model, adapter, batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # fp32 on CPU: bf16 matmuls there are slow and change greedy outputs.
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        self.template_owner, self.tokenizer, self.model_type, self.is_vision = load_chat_tokenizers(model)
        self.processor = self.template_owner if self.is_vision else None
        self.renderer = PromptRenderer(self.template_owner, self.model_type, self.is_vision)
        auto_model = transformers.AutoModelForImageTextToText if self.is_vision else transformers.AutoModelForCausalLM
        # Decoder-only generation appends after the prompt: pad on the left so every row's prompt
        # ends at the same position.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = auto_model.from_pretrained(model, dtype=torch_dtype).to(self.device).eval()
        if adapter:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, adapter).eval()
        self.torch_dtype = torch_dtype
        self.stop_ids = stop_token_ids(self.model.generation_config, self.tokenizer)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name, "model": self.model_path, "adapter": self.adapter, "model_type": self.model_type,
            "dtype": str(self.torch_dtype).removeprefix("torch."), "device": self.device,
            "batch_size": self.batch_size, "decoding": "greedy", "prompt_mode": self.renderer.mode,
        }

    def prompt_text(self, request: Request) -> str:
        return self.renderer.render(request.messages, bool(request.images))

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[str, str]]:
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start:start + self.batch_size]
            yield from zip([r.id for r in batch], self._generate_batch(batch))

    def _inputs(self, batch: Sequence[Request]) -> Any:
        """Left-padded model inputs of a batch of requests, on the model's device."""
        for request in batch:
            check_request(request)
        prompts = [self.prompt_text(r) for r in batch]
        add_special = self.renderer.add_special_tokens
        if self.processor is not None:
            images = [load_image(p) for r in batch for p in r.images]
            inputs = self.processor(
                text=prompts, images=images or None, padding=True, return_tensors="pt", add_special_tokens=add_special
            )
        else:
            inputs = self.tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=add_special)
        return inputs.to(self.device)

    def _generate_batch(self, batch: Sequence[Request]) -> list[str]:
        import torch

        inputs = self._inputs(batch)
        longest = max(r.max_new_tokens for r in batch)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, max_new_tokens=longest, do_sample=False, num_beams=1,
                pad_token_id=self.tokenizer.pad_token_id,
                # Generation configs shipped with models often set temperature/top_p for sampling;
                # unset them so greedy decoding does not warn about ignored flags.
                temperature=None, top_p=None, top_k=None,
            )
        generated = output[:, inputs["input_ids"].shape[1]:].tolist()
        # Each row stops at its own budget, as if it had been generated alone.
        return [decode_answer(self.tokenizer, ids[: r.max_new_tokens], self.stop_ids) for ids, r in zip(generated, batch)]

    def generate_samples(self, requests: Sequence[Request], spec: SamplingSpec) -> Iterator[tuple[str, list[str]]]:
        """``spec.n`` samples per row from one ``generate`` call (``num_return_sequences``).

        One row per call, under its own seed (``spec.row_seed``) in a forked RNG: HF's sampler draws
        from torch's global RNG, so batching rows would make a row's samples depend on its batch mates.
        """
        import torch

        devices = [self.model.device] if self.device.startswith("cuda") else []
        for request in requests:
            inputs = self._inputs([request])
            with torch.random.fork_rng(devices=devices), torch.inference_mode():
                torch.manual_seed(spec.row_seed(request.id))
                output = self.model.generate(
                    **inputs, max_new_tokens=request.max_new_tokens, do_sample=True, num_beams=1,
                    num_return_sequences=spec.n, temperature=spec.temperature, top_p=spec.top_p, top_k=0,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            generated = output[:, inputs["input_ids"].shape[1]:].tolist()
            yield request.id, [decode_answer(self.tokenizer, ids, self.stop_ids) for ids in generated]

    def close(self) -> None:
        self.model = None
