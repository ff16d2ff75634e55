"""Every loss equals the slow loop reference — value and gradient — on real tokenizers."""

from __future__ import annotations

import zlib

import pytest
import torch

from metricsft import build_metric_vocab, metric_token_loss
from tests.plugin.conftest import LOC_TEXT, REAL_TOKENIZERS, TEXTS, encode_batch, random_logits
from tests.plugin.reference import ref_loss

LOSSES = [
    ("ce", {}),
    ("emd", {}),
    ("emd", {"sigma": 0.5}),
    ("ntil", {"gumbel": False}),
    ("ntil", {"gumbel": False, "alpha": 1.0, "beta": 0.7, "sigma": 0.3, "eps": 0.5}),
    ("ntil", {"gumbel_noise_scale": 0.0, "eps_scale": "absolute"}),
    ("dist2", {}),
    ("dist2", {"normalize": "metric", "distance": "absolute", "tau": 2.0}),
    ("dist2", {"sigma": 0.2}),
    ("ntl_mse", {}),
    ("ntl_was", {}),
]


def check_against_reference(tokenizer, labels, loss, args, metrics=("digits",), extra_width=0, **kw):
    vocab = build_metric_vocab(tokenizer, metrics=metrics)
    logits = random_logits(labels, len(tokenizer) + extra_width, seed=zlib.crc32(f"{loss}{args}".encode()) % 1000)  # hash() is salted per process
    ours = metric_token_loss(logits, labels, vocab, loss, args, **kw)
    (g_ours,) = torch.autograd.grad(ours.loss, logits)
    ref = ref_loss(logits, labels, tokenizer, loss, args, metrics=metrics, **kw)
    (g_ref,) = torch.autograd.grad(ref, logits)
    assert float(ours.loss) == pytest.approx(float(ref), rel=1e-5, abs=1e-6)
    torch.testing.assert_close(g_ours.double(), g_ref.double(), rtol=1e-4, atol=1e-7)
    return ours


@pytest.mark.parametrize("tok_name", REAL_TOKENIZERS)
@pytest.mark.parametrize("loss,args", LOSSES, ids=[f"{l}-{i}" for i, (l, _) in enumerate(LOSSES)])
def test_loss_matches_reference(tok_name, loss, args, request):
    tokenizer = request.getfixturevalue(tok_name)
    labels = encode_batch(tokenizer, TEXTS)
    out = check_against_reference(tokenizer, labels, loss, args)
    if loss != "ce":
        assert float(out.components["metric_term"]) > 0  # the batch has numbers


@pytest.mark.parametrize("loss,args", [("ntil", {"gumbel": False}), ("dist2", {}), ("emd", {})])
def test_paligemma_location_tokens(gemma_loc_tokenizer, loss, args):
    labels = encode_batch(gemma_loc_tokenizer, [LOC_TEXT, TEXTS[0]])
    check_against_reference(gemma_loc_tokenizer, labels, loss, args, metrics=("digits", "loc"))


@pytest.mark.parametrize("loss,args", [("ntil", {"gumbel": False}), ("dist2", {})])
def test_padded_vocabulary(qwen2_tokenizer, loss, args):
    """Logits wider than the tokenizer (Qwen2 pads 151,657 tokens to 151,936)."""
    labels = encode_batch(qwen2_tokenizer, TEXTS[:2])
    check_against_reference(qwen2_tokenizer, labels, loss, args, extra_width=279)


@pytest.mark.parametrize("loss,args", [("ntil", {"gumbel": False}), ("dist2", {}), ("ce", {})])
def test_num_items_and_packed_positions(llama3_tokenizer, loss, args):
    labels = encode_batch(llama3_tokenizer, TEXTS[:3])
    position_ids = torch.arange(labels.shape[1]).repeat(labels.shape[0], 1)
    position_ids[:, 7:] -= 7  # a packed boundary in every row
    check_against_reference(llama3_tokenizer, labels, loss, args, num_items_in_batch=97, position_ids=position_ids)


def test_gumbel_noise_follows_the_global_seed(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, TEXTS)
    logits = random_logits(labels, len(qwen2_tokenizer))
    values = []
    for seed in (1, 1, 2):  # full-scale noise, so that it flips digits of these random logits
        torch.manual_seed(seed)
        values.append(float(metric_token_loss(logits, labels, vocab, "ntil", {"gumbel_noise_scale": 1.0}).components["rel"]))
    assert all(torch.isfinite(torch.tensor(values)))  # default NTIL (noise on) once returned NaN
    assert values[0] == values[1]
    leaf = logits.detach().requires_grad_(True)
    out = metric_token_loss(leaf, labels, vocab, "ntil")
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(leaf.grad).all()
    # The noiseless variant is the Gumbel variant with zero noise: rel differs once noise flips a digit.
    noiseless = float(metric_token_loss(logits, labels, vocab, "ntil", {"gumbel": False}).components["rel"])
    assert any(v != noiseless for v in values)


def test_official_ratio_scaling_pins_loss_to_one_plus_lambda_ce(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, TEXTS)
    logits = random_logits(labels, len(qwen2_tokenizer))
    out = metric_token_loss(logits, labels, vocab, "ntil", {"official_ratio_scaling": True, "gumbel": False})
    assert float(out.loss) == pytest.approx(1.3 * float(out.components["ce"]), rel=1e-5)
