"""1,000+ random label sequences mixing every number shape: never NaN/Inf, always the reference."""

from __future__ import annotations

import random
import zlib

import pytest
import torch

from metricsft import build_metric_vocab, metric_token_loss
from tests.plugin.reference import ref_loss

PIECES = ["1", "2", "0", "9", "5", "▁3", "▁0", "07", "42", "99", ".", ".", "-", "▁-", "x", "y", ",", "▁a", "<loc0128>"]


def random_batch(rng: random.Random, tokenizer, batch: int, length: int):
    ids = [[tokenizer.convert_tokens_to_ids(rng.choice(PIECES)) for _ in range(length)] for _ in range(batch)]
    labels = torch.tensor(ids)
    labels[torch.rand(labels.shape, generator=torch.Generator().manual_seed(rng.randrange(10**6))) < 0.1] = -100
    position_ids = torch.arange(length).repeat(batch, 1)
    for row in range(batch):
        cut = rng.randrange(1, length)
        if rng.random() < 0.5:
            position_ids[row, cut:] -= cut
    return labels, position_ids


@pytest.mark.parametrize("loss,args", [("ntil", {"gumbel": False}), ("dist2", {}), ("ntl_mse", {}), ("emd", {"sigma": 0.2})])
def test_fuzz_against_reference(toy_tokenizer, loss, args):
    rng = random.Random(zlib.crc32(loss.encode()))  # hash() is salted per process
    vocab = build_metric_vocab(toy_tokenizer, metrics=["digits", "loc"])
    sequences = 0
    while sequences < 1000:
        batch, length = rng.randint(1, 6), rng.randint(2, 24)
        labels, position_ids = random_batch(rng, toy_tokenizer, batch, length)
        logits = (torch.randn(batch, length, len(toy_tokenizer)) * rng.choice([0.1, 1.0, 8.0])).double().requires_grad_(True)
        ours = metric_token_loss(logits, labels, vocab, loss, args, position_ids=position_ids)
        (g_ours,) = torch.autograd.grad(ours.loss, logits)
        assert torch.isfinite(ours.loss) and torch.isfinite(g_ours).all()
        ref = ref_loss(logits, labels, toy_tokenizer, loss, args, position_ids=position_ids, metrics=("digits", "loc"))
        (g_ref,) = torch.autograd.grad(ref, logits)
        assert float(ours.loss) == pytest.approx(float(ref), rel=1e-9, abs=1e-12), (labels, position_ids)
        torch.testing.assert_close(g_ours, g_ref, rtol=1e-7, atol=1e-10)
        sequences += batch
