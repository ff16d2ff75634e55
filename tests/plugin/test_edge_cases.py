"""Edge cases the reference implementations get wrong — one test each."""

from __future__ import annotations

import pytest
import torch

from metricsft import LOSS_NAMES, build_metric_vocab, metric_token_loss
from tests.plugin.conftest import TEXTS, encode_batch, random_logits
from tests.plugin.reference import ref_loss

NOISELESS = {"ntil": {"gumbel": False}}


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_no_numbers_gives_exactly_zero_term(qwen2_tokenizer, loss):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, ["no numbers here at all", "none here either"])
    logits = random_logits(labels, len(qwen2_tokenizer))
    out = metric_token_loss(logits, labels, vocab, loss)
    assert float(out.components["metric_term"]) == 0.0
    ce = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten())
    assert float(out.loss) == pytest.approx(float(ce), rel=1e-6)
    (grad,) = torch.autograd.grad(out.loss, logits)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_all_labels_ignored_is_zero_not_nan(qwen2_tokenizer, loss):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = torch.full((2, 5), -100)
    logits = random_logits(labels, len(qwen2_tokenizer))
    out = metric_token_loss(logits, labels, vocab, loss)
    assert float(out.loss) == 0.0
    (grad,) = torch.autograd.grad(out.loss, logits)
    assert float(grad.abs().sum()) == 0.0


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_sixty_digit_run_is_finite(qwen2_tokenizer, loss):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, ["x " + "9" * 60 + ".5 and " + "1" * 400], prompt_len=1)
    logits = random_logits(labels, len(qwen2_tokenizer))
    out = metric_token_loss(logits, labels, vocab, loss, NOISELESS.get(loss))
    (grad,) = torch.autograd.grad(out.loss, logits)
    assert torch.isfinite(out.loss) and torch.isfinite(grad).all()
    assert all(torch.isfinite(v) for v in out.components.values())


def test_sixty_digit_run_matches_reference(qwen2_tokenizer):
    """float64 reference can still represent 10**60: our leading-place scaling agrees with it."""
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, ["x " + "9" * 59 + "4"], prompt_len=1)
    logits = random_logits(labels, len(qwen2_tokenizer), seed=3)
    ours = metric_token_loss(logits, labels, vocab, "ntil", {"gumbel": False})
    ref = ref_loss(logits, labels, qwen2_tokenizer, "ntil")
    assert float(ours.loss) == pytest.approx(float(ref), rel=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("loss", ["ntil", "dist2", "emd", "ntl_mse"])
def test_half_precision_logits(llama3_tokenizer, dtype, loss):
    """fp16/bf16 logits: terms computed in fp32, close to the fp32 result, gradient in the input dtype."""
    vocab = build_metric_vocab(llama3_tokenizer)
    labels = encode_batch(llama3_tokenizer, TEXTS)
    logits32 = random_logits(labels, len(llama3_tokenizer), seed=5)
    logits_half = logits32.detach().to(dtype).requires_grad_(True)
    args = NOISELESS.get(loss)
    half = metric_token_loss(logits_half, labels, vocab, loss, args)
    full = metric_token_loss(logits_half.detach().float(), labels, vocab, loss, args)
    assert half.loss.dtype == torch.float32
    assert float(half.components["metric_term"]) > 0
    assert float(half.loss) == pytest.approx(float(full.loss), rel=1e-6)
    (grad,) = torch.autograd.grad(half.loss, logits_half)
    assert grad.dtype == dtype and torch.isfinite(grad.float()).all()


def test_shapes_change_between_calls(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    for batch, texts in [(1, TEXTS[:1]), (3, TEXTS[:3]), (2, [TEXTS[1] * 3, "7"])]:
        labels = encode_batch(qwen2_tokenizer, texts, prompt_len=0)
        logits = random_logits(labels, len(qwen2_tokenizer), seed=batch)
        ours = metric_token_loss(logits, labels, vocab, "dist2")
        ref = ref_loss(logits, labels, qwen2_tokenizer, "dist2")
        assert float(ours.loss) == pytest.approx(float(ref), rel=1e-5)


def test_tokenizer_is_not_mutated(gemma_loc_tokenizer):
    before = (len(gemma_loc_tokenizer), dict(gemma_loc_tokenizer.get_vocab()))
    build_metric_vocab(gemma_loc_tokenizer, metrics=["digits", "loc"])
    assert (len(gemma_loc_tokenizer), dict(gemma_loc_tokenizer.get_vocab())) == before
