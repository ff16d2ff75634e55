"""Reduction contract: micro-batches with a global num_items_in_batch add up to the big batch."""

from __future__ import annotations

import pytest
import torch

from metricsft import build_metric_vocab, metric_token_loss
from tests.plugin.conftest import TEXTS, encode_batch, random_logits


@pytest.mark.parametrize("loss,args", [("ntil", {"gumbel": False}), ("dist2", {}), ("emd", {}), ("ce", {}), ("ntl_mse", {})])
def test_micro_batches_sum_to_big_batch(qwen2_tokenizer, loss, args):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, TEXTS)
    logits = random_logits(labels, len(qwen2_tokenizer), seed=11)
    big = metric_token_loss(logits, labels, vocab, loss, args)
    (g_big,) = torch.autograd.grad(big.loss, logits)
    # HF counts supervised tokens after the shift.
    num_items = int((labels[:, 1:] != -100).sum())
    total, g_sum = 0.0, torch.zeros_like(logits)
    for rows in ([0], [1, 2], [3]):
        part = logits[rows].detach().requires_grad_(True)
        out = metric_token_loss(part, labels[rows], vocab, loss, args, num_items_in_batch=num_items)
        (g,) = torch.autograd.grad(out.loss, part)
        total += float(out.loss)
        g_sum[rows] = g
    assert total == pytest.approx(float(big.loss), rel=1e-5)
    torch.testing.assert_close(g_sum, g_big, rtol=1e-4, atol=1e-8)


def test_mean_without_num_items(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, TEXTS)
    logits = random_logits(labels, len(qwen2_tokenizer))
    n = int((labels[:, 1:] != -100).sum())
    mean = metric_token_loss(logits, labels, vocab, "dist2")
    summed = metric_token_loss(logits, labels, vocab, "dist2", num_items_in_batch=1)
    assert float(mean.loss) * n == pytest.approx(float(summed.loss), rel=1e-5)
