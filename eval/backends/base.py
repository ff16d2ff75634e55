"""What every generation backend shares: the request it receives and the one method it offers.

A backend turns prompts into answers and nothing else: it knows no task, no scoring and no cache.
Answers are *yielded as they are produced* so that the runner can write each one to its cache the
moment it exists (a crash then loses at most the answers still in flight).

    >>> req = Request(id="gsm8k/test/0", messages=[{"role": "user", "content": "1+1?"}], max_new_tokens=8)
    >>> for row_id, text in backend.generate([req]):  # doctest: +SKIP
    ...     print(row_id, text)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

IMAGE_PLACEHOLDER = "<image>"  # LLaMA-Factory's sharegpt placeholder: one per entry of `images`


class BackendError(RuntimeError):
    """A backend could not produce an answer (the message names the row id and what to do)."""


@dataclass
class Request:
    """One prompt to answer: the user side of a converted dataset row.

    `messages` are sharegpt turns (`role`/`content`) WITHOUT the answer to predict; every
    `<image>` placeholder in them stands for the next path of `images`, in order.
    """

    id: str
    messages: list[dict[str, str]]
    images: list[str] = field(default_factory=list)
    max_new_tokens: int = 256


@dataclass(frozen=True)
class SamplingSpec:
    """N samples per row for minimum-Bayes-risk decoding (``metricsft eval --decode mbr``).

    Top-k is always off (vLLM's and OpenAI's default; HF's generation default of 50 is overridden),
    so ``temperature`` and ``top_p`` alone define the distribution on every backend.

    >>> spec = SamplingSpec(n=8, temperature=1.0, top_p=1.0, seed=0)
    >>> spec.row_seed("gsm8k/test/0") == spec.row_seed("gsm8k/test/0") != spec.row_seed("gsm8k/test/1")
    True
    """

    n: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"--samples must be >= 1, got {self.n}")
        if not self.temperature > 0:
            raise ValueError(f"--temperature must be > 0 for sampling, got {self.temperature} (use --decode greedy)")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"--top-p must be in (0, 1], got {self.top_p}")

    def row_seed(self, row_id: str) -> int:
        """The seed of one row's samples, derived from the run seed and the row id alone.

        Seeding per row (not once per run) makes a row's samples independent of batching, of the
        order rows run in and of which rows a resumed run still has to generate.
        """
        digest = hashlib.sha256(f"{self.seed}:{row_id}".encode("utf-8")).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@runtime_checkable
class Backend(Protocol):
    """The interface the runner needs. `generate` may yield in any order, but exactly once per id."""

    name: str

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[str, str]]:
        ...

    def generate_samples(self, requests: Sequence[Request], spec: SamplingSpec) -> Iterator[tuple[str, list[str]]]:
        """``spec.n`` sampled answers per row (seeded by ``spec.row_seed(id)``), same ordering contract."""
        ...

    def describe(self) -> dict[str, Any]:
        """Settings worth recording in results.json (model, dtype, parallelism...)."""
        ...

    def close(self) -> None:
        ...


def check_request(request: Request) -> None:
    """Reject a request whose images and `<image>` placeholders disagree, naming the row.

    Silently appending or dropping images would change what the model sees.
    """
    placeholders = sum(str(m.get("content", "")).count(IMAGE_PLACEHOLDER) for m in request.messages)
    if placeholders != len(request.images):
        raise ValueError(
            f"row {request.id!r}: {placeholders} '{IMAGE_PLACEHOLDER}' placeholder(s) in the messages but "
            f"{len(request.images)} image(s); put exactly one '{IMAGE_PLACEHOLDER}' per image in the user turn"
        )
    if not request.messages:
        raise ValueError(f"row {request.id!r}: no messages to answer")
    if request.messages[-1].get("role") == "assistant":
        raise ValueError(
            f"row {request.id!r}: the last message is the assistant's answer; a request must end with the "
            "user turn (the answer is what the model has to generate)"
        )
    for path in request.images:
        if not Path(path).is_file():
            raise FileNotFoundError(f"row {request.id!r}: image {path!r} does not exist")


def load_image(path: str):
    """Open an image as RGB (processors expect 3 channels; PNGs with alpha or palettes break them)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")
