"""Client for any OpenAI-compatible chat-completions server (`vllm serve`, SGLang, TGI, llama.cpp...).

    >>> backend = OpenAIBackend("http://127.0.0.1:8000/v1", model="my-model", concurrency=16)  # doctest: +SKIP
    >>> dict(backend.generate(requests))  # doctest: +SKIP

At most `concurrency` requests are in flight. A connection error, a timeout, a 5xx or a 429 is
retried with exponential backoff (a server restarting or shedding load should not end a run of
thousands of rows); any other 4xx is a bad request and fails at once. When the retries are used up
the error names the row id. Images travel inline as base64 data URLs.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterator, Sequence

from metricsft.eval.backends.base import BackendError, Request, SamplingSpec, check_request
from metricsft.eval.backends.chat import split_content

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def image_data_url(path: str) -> str:
    mime = mimetypes.guess_type(path)[0] or "image/png"
    with open(path, "rb") as handle:
        return f"data:{mime};base64,{base64.b64encode(handle.read()).decode('ascii')}"


def openai_messages(request: Request) -> list[dict[str, Any]]:
    """Sharegpt turns -> OpenAI chat messages; turns with images become content-part lists."""
    images = iter(request.images)
    out = []
    for message in request.messages:
        pieces = split_content(message["content"])
        if None not in pieces:
            out.append({"role": message["role"], "content": message["content"]})
            continue
        parts = [
            {"type": "image_url", "image_url": {"url": image_data_url(next(images))}} if p is None
            else {"type": "text", "text": p}
            for p in pieces
        ]
        out.append({"role": message["role"], "content": parts})
    return out


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 600.0,
        backoff: float = 1.0,
        api_key: str | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        import httpx

        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.concurrency, self.max_retries = model, concurrency, max_retries
        self.timeout, self.backoff, self.extra_body = timeout, backoff, dict(extra_body or {})
        key = api_key or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._httpx = httpx
        self._client = httpx.Client(
            headers=headers, timeout=timeout, limits=httpx.Limits(max_connections=concurrency)
        )
        self._stats_lock = threading.Lock()
        self.retries_done = 0  # how many retries the last runs needed (recorded in results.json)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name, "base_url": self.url.removesuffix("/chat/completions"), "model": self.model,
            "concurrency": self.concurrency, "max_retries": self.max_retries, "timeout_s": self.timeout,
            "extra_body": self.extra_body, "decoding": "greedy (temperature 0)", "retries_done": self.retries_done,
        }

    def payload(self, request: Request) -> dict[str, Any]:
        check_request(request)
        return {
            "model": self.model, "messages": openai_messages(request), "max_tokens": request.max_new_tokens,
            "temperature": 0.0, **self.extra_body,
        }

    def complete(self, request: Request) -> str:
        """One chat completion with retries; returns the answer text."""
        return self._answer_texts(request, self._post(request, self.payload(request)), 1)[0]

    def complete_samples(self, request: Request, spec: SamplingSpec) -> list[str]:
        """``spec.n`` sampled answers in one request (the API's ``n``), seeded with ``spec.row_seed``.

        Servers may ignore ``seed`` (OpenAI calls it best effort; vLLM honours it), so samples from a
        server are reproducible only as far as that server makes them.
        """
        body = {
            **self.payload(request), "n": spec.n, "temperature": spec.temperature, "top_p": spec.top_p,
            "seed": spec.row_seed(request.id),
        }
        return self._answer_texts(request, self._post(request, body), spec.n)

    def _post(self, request: Request, body: dict[str, Any]) -> Any:
        """POST with retries on transport errors, 5xx and 429; returns the 200 response."""
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                with self._stats_lock:
                    self.retries_done += 1
                # Full jitter keeps many workers from retrying in lockstep against a recovering server.
                time.sleep(random.uniform(0, self.backoff * 2 ** (attempt - 1)))
            try:
                response = self._client.post(self.url, json=body)
            except self._httpx.TransportError as error:  # refused, reset, dropped, timed out
                last_error = f"{type(error).__name__}: {error}"
                continue
            if response.status_code in RETRY_STATUS:
                last_error = f"HTTP {response.status_code}: {response.text[:300]}"
                continue
            if response.status_code != 200:
                raise BackendError(
                    f"row {request.id!r}: {self.url} answered HTTP {response.status_code} (not retried): "
                    f"{response.text[:500]}"
                )
            return response
        raise BackendError(
            f"row {request.id!r}: no answer from {self.url} after {self.max_retries + 1} attempts "
            f"(last error: {last_error}); check the server or raise --max-retries / --timeout"
        )

    def _answer_texts(self, request: Request, response: Any, n: int) -> list[str]:
        """The ``n`` choices' message texts, in choice-index order."""
        try:
            choices = sorted(response.json()["choices"], key=lambda choice: choice.get("index", 0))
            contents = [choice["message"]["content"] for choice in choices]
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
            raise BackendError(
                f"row {request.id!r}: {self.url} returned no choices[].message.content "
                f"({type(error).__name__}): {response.text[:500]}"
            ) from error
        if len(contents) != n:
            raise BackendError(f"row {request.id!r}: {self.url} returned {len(contents)} choice(s), asked for {n}")
        for content in contents:
            if not isinstance(content, str):
                raise BackendError(f"row {request.id!r}: message.content is {json.dumps(content)[:200]}, not text")
        return contents

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[str, str]]:
        """Yield answers in completion order, keeping at most `concurrency` requests in flight."""
        return self._pooled(requests, self.complete)

    def generate_samples(self, requests: Sequence[Request], spec: SamplingSpec) -> Iterator[tuple[str, list[str]]]:
        """Like `generate`, with ``spec.n`` samples per row (one request per row)."""
        return self._pooled(requests, lambda request: self.complete_samples(request, spec))

    def _pooled(self, requests: Sequence[Request], answer: Callable[[Request], Any]) -> Iterator[tuple[str, Any]]:
        pending = iter(requests)
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai") as pool:
            in_flight: dict[Future, str] = {}

            def submit_next() -> None:
                request = next(pending, None)
                if request is not None:
                    in_flight[pool.submit(answer, request)] = request.id

            for _ in range(self.concurrency):
                submit_next()
            try:
                while in_flight:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        row_id = in_flight.pop(future)
                        yield row_id, future.result()
                        submit_next()
            finally:
                # On error or when the consumer stops early, do not start the queued rows.
                for future in in_flight:
                    future.cancel()

    def close(self) -> None:
        self._client.close()
