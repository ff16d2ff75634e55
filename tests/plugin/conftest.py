"""Fixtures for the core-loss tests: real tokenizers (from tests/conftest.py) and a toy one.

The toy tokenizer is a real ``PreTrainedTokenizerFast`` with a 160-token word-level vocabulary
that has every kind of number token (digits, space-prefixed digits, two-digit tokens, '.', '-'):
small enough for gradcheck and for a 1,000-sequence fuzz against the loop reference.
"""

from __future__ import annotations

import pytest
import torch

TEXTS = [
    "The box is (120,44),(512,900) and the rod is 3.015 m long.",
    "Answer: -42. Total 12345 items, version 1.2.3 shipped",
    "Agent 007 met at 2-55; x = -0.5 and y=1000000 exactly",
    "no numbers here at all",
]
LOC_TEXT = "<loc0123><loc0456><loc0789><loc1000> car ; <loc0001><loc0002><loc1023><loc1022> dog and 17 cats"

REAL_TOKENIZERS = ["qwen2_tokenizer", "llama3_tokenizer", "llama2_tokenizer", "gemma_loc_tokenizer"]


def build_toy_tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<pad>", "x", "y", "=", ",", ";", "▁a", "▁b", ".", "-", "▁-", "▁."]
    words += [str(d) for d in range(10)] + [f"▁{d}" for d in range(10)] + [f"{d:02d}" for d in range(100)]
    words += [f"<loc{i:04d}>" for i in range(0, 1024, 128)]
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>")


@pytest.fixture(scope="session")
def toy_tokenizer():
    return build_toy_tokenizer()


def encode_batch(tokenizer, texts, prompt_len: int = 2):
    """Right-padded label batch: each text's ids, the first ``prompt_len`` masked like a prompt."""
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    length = max(len(i) for i in ids)
    labels = torch.full((len(ids), length), -100, dtype=torch.long)
    for row, seq in enumerate(ids):
        labels[row, : len(seq)] = torch.tensor(seq)
        labels[row, :prompt_len] = -100
    return labels


def random_logits(labels: torch.Tensor, width: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*labels.shape, width, generator=gen) * 2).to(dtype).requires_grad_(True)
