"""Session-wide fixtures: real offline tokenizers, a small real model, tiny random VLMs, shared data.

Every asset is built once into ``$METRICSFT_ASSETS`` (default ``<repo>/.assets``) by
``tests/assets/build_assets.py``; fixtures only load from there.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Callable

import pytest

from tests.assets.build_assets import asset_path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Tests run next to other engineers' test runs on a few shared cores: keep torch from oversubscribing.
# The eval-only environment may have no torch; then there is nothing to tune.
if importlib.util.find_spec("torch") is not None:
    import torch

    torch.set_num_threads(2)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _tokenizer(name: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(asset_path(name))


@pytest.fixture(scope="session")
def qwen2_tokenizer():
    """Qwen2-VL tokenizer (digits are single tokens; ``<|box_start|>`` is id 151648)."""
    return _tokenizer("qwen2")


@pytest.fixture(scope="session")
def llama3_tokenizer():
    """Llama-3 tokenizer (digits grouped in runs of up to three)."""
    return _tokenizer("llama3")


@pytest.fixture(scope="session")
def llama2_tokenizer():
    """Llama-2 / LLaVA-1.5 SentencePiece-BPE tokenizer (32000 tokens, digits split one by one)."""
    return _tokenizer("llama2")


@pytest.fixture(scope="session")
def gemma_loc_tokenizer():
    """Gemma tokenizer with PaliGemma's 1024 ``<locNNNN>`` tokens."""
    return _tokenizer("gemma_loc")


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """Directory of SmolLM2-135M-Instruct (safetensors + tokenizer) for ``AutoModelForCausalLM``."""
    return asset_path("smollm2")


@pytest.fixture(scope="session")
def tiny_model_path() -> Callable[[str], Path]:
    """Factory: ``tiny_model_path("tiny_qwen2_vl")`` -> directory of that tiny random model."""
    return asset_path


@pytest.fixture(scope="session")
def shared_data_dir() -> Path | None:
    """``/work/shared/data`` or ``<repo>/../shared/data`` when present (real data sets), else None."""
    for candidate in (Path("/work/shared/data"), REPO_ROOT.parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return None
