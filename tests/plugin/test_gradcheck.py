"""torch.autograd.gradcheck in float64 on a small real (word-level) tokenizer vocabulary."""

from __future__ import annotations

import pytest
import torch

from metricsft import build_metric_vocab, metric_token_loss
from tests.plugin.conftest import encode_batch

# NTIL's sequence terms use a straight-through estimator, whose gradient is by design not the
# derivative of the forward value; gradcheck covers its EMD part (alpha = beta = 0) and the
# reference tests cover the straight-through gradient.
CASES = [
    ("ce", {}),
    ("emd", {"sigma": 0.3}),
    ("ntil", {"gumbel": False, "alpha": 0.0, "beta": 0.0}),
    ("dist2", {}),
    ("dist2", {"normalize": "metric", "sigma": 0.2}),
    ("ntl_mse", {}),
    ("ntl_was", {}),
]


@pytest.mark.parametrize("loss,args", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
def test_gradcheck(toy_tokenizer, loss, args):
    vocab = build_metric_vocab(toy_tokenizer, metrics=["digits", "loc"])
    labels = encode_batch(toy_tokenizer, ["x = 1 2 . 5 ; 07 3 <loc0128> y", "▁- 4 2 , 9 9 . 0"], prompt_len=1)
    logits = torch.randn(*labels.shape, len(toy_tokenizer) + 3, dtype=torch.float64, requires_grad=True)

    def fn(z):
        return metric_token_loss(z, labels, vocab, loss, args).loss

    # fast_mode checks random projections of the Jacobian (the full one is ~3k finite differences)
    assert torch.autograd.gradcheck(fn, (logits,), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)
