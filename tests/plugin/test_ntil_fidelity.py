"""NTIL as the paper and its official code define it: Gumbel noise scale, the official preset
(checked against a dense re-statement of the official formulas), eps per decimal place, float64
rebuild of whole numbers."""

from __future__ import annotations

import math

import pytest
import torch

from metricsft import build_metric_vocab, metric_token_loss
from metricsft.losses import get_loss

from .conftest import encode_batch

# Integers only, one number per digit run: the inputs on which the official code is correct.
OFFICIAL_TEXTS = ["Total 12345 items and 7 boxes", "at 2 55 we had 908 guests, 13 left", "no numbers at all"]


def confident_logits(labels: torch.Tensor, width: int, margin: float, seed: int = 0) -> torch.Tensor:
    """Random logits whose argmax is the label everywhere (by ``margin`` over the runner-up)."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(*labels.shape, width, generator=gen)
    shifted = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=-100)
    b, t = (shifted != -100).nonzero(as_tuple=True)
    logits[b, t, shifted[b, t]] = logits[b, t].max(-1).values + margin
    return logits


def test_default_noise_keeps_the_argmax(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, OFFICIAL_TEXTS)
    logits = confident_logits(labels, len(qwen2_tokenizer), margin=0.5)
    default_rel, full_scale_rel = [], []
    for seed in range(20):
        torch.manual_seed(seed)
        out = metric_token_loss(logits, labels, vocab, "ntil").components
        default_rel.append(float(out["rel"]) + float(out["mag"]))
        torch.manual_seed(seed)
        full = metric_token_loss(logits, labels, vocab, "ntil", {"gumbel_noise_scale": 1.0}).components
        full_scale_rel.append(float(full["rel"]))
    assert default_rel == [0.0] * 20  # X is the argmax, as the paper intends
    assert sum(r > 0 for r in full_scale_rel) >= 10  # full-scale noise samples other digits


def _official_reference(logits: torch.Tensor, labels: torch.Tensor, tokenizer) -> torch.Tensor:
    """The official NTIL.forward(logits, labels, mle) restated densely (noise scale 0, fp64)."""
    digit_ids = [tokenizer.convert_tokens_to_ids(str(d)) for d in range(10)]
    digit_of = {idx: d for d, idx in enumerate(digit_ids)}
    z = logits[:, :-1].double()
    y = labels[:, 1:]
    supervised = y != -100
    mle = -(torch.log_softmax(z, -1).gather(-1, y.clamp_min(0)[..., None]).squeeze(-1) * supervised).sum() / supervised.sum()
    per_sequence = []
    for b in range(y.shape[0]):
        ids = y[b].tolist()
        runs, current = [], []
        for t, idx in enumerate(ids + [-100]):
            if idx in digit_of:
                current.append(t)
            elif current:
                runs.append(current)
                current = []
        emd_terms, rel_terms, mag_terms = [], [], []
        for run in runs:
            digits = z[b, run][:, digit_ids]
            for k, t in enumerate(run):
                p = torch.softmax(digits[k], -1)
                dist = torch.tensor([abs(j - digit_of[ids[t]]) for j in range(10)], dtype=torch.float64)
                emd_terms.append(1.2 ** (len(run) - 1 - k) * (p * dist).sum())
            soft = torch.softmax(digits / 0.1, -1)
            hard = torch.nn.functional.one_hot(soft.argmax(-1), 10).double()
            chosen = (hard - soft.detach() + soft) @ torch.arange(10, dtype=torch.float64)
            powers = torch.tensor([10.0 ** (len(run) - 1 - k) for k in range(len(run))], dtype=torch.float64)
            x = (chosen * powers).sum()
            truth = float(sum(digit_of[ids[t]] * 10 ** (len(run) - 1 - k) for k, t in enumerate(run)))
            rel = (x - truth).abs() / (torch.maximum(x, torch.tensor(truth, dtype=torch.float64)) + 1)
            rel_terms.append(torch.where(x == truth, torch.zeros_like(rel), rel))
            bigger = torch.maximum(x, torch.tensor(truth, dtype=torch.float64))
            smaller = torch.minimum(x, torch.tensor(truth, dtype=torch.float64))
            mag_terms.append(torch.log((bigger + 1) / (smaller + 1)))
        mean = lambda terms: torch.stack(terms).mean() if terms else torch.zeros((), dtype=torch.float64)  # noqa: E731
        per_sequence.append(mean(emd_terms) + 0.2 * mean(rel_terms) + 0.2 * mean(mag_terms))
    ntil = torch.stack(per_sequence).mean()
    return mle + 0.3 * (mle / (ntil + 1e-10)).detach() * ntil


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_official_preset_equals_the_official_formulas(qwen2_tokenizer, seed):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, OFFICIAL_TEXTS)
    logits = (torch.randn(*labels.shape, len(qwen2_tokenizer), generator=torch.Generator().manual_seed(seed)) * 2).double()
    ours_in = logits.clone().requires_grad_(True)
    ours = metric_token_loss(ours_in, labels, vocab, "ntil", {"preset": "official", "gumbel_noise_scale": 0.0}).loss
    (g_ours,) = torch.autograd.grad(ours, ours_in)
    ref_in = logits.clone().requires_grad_(True)
    ref = _official_reference(ref_in, labels, qwen2_tokenizer)
    (g_ref,) = torch.autograd.grad(ref, ref_in)
    assert float(ours) == pytest.approx(float(ref), rel=1e-10)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-8, atol=1e-12)


def test_preset_fills_defaults_and_explicit_arguments_win():
    spec = get_loss("ntil")
    official = spec.parse_args({"preset": "official"})
    assert (official.reduction, official.eps_scale, official.official_ratio_scaling) == ("sequence", "absolute", True)
    assert spec.parse_args({"preset": "official", "lam": 0.5}).lam == 0.5
    assert get_loss("emd").parse_args({"preset": "official"}).sigma == 0.2
    with pytest.raises(ValueError, match="unknown preset 'paper'; valid: \\['official'\\]"):
        spec.parse_args({"preset": "paper"})


def test_sequence_reduction_without_ratio_is_mean_ce_plus_lam_times_batch_mean(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, OFFICIAL_TEXTS)
    logits = torch.randn(*labels.shape, len(qwen2_tokenizer), generator=torch.Generator().manual_seed(3)).double()
    args = {"preset": "official", "gumbel_noise_scale": 0.0, "official_ratio_scaling": False}
    for num_items in (None, 41):
        out = metric_token_loss(logits, labels, vocab, "ntil", args, num_items_in_batch=num_items)
        reference = _official_reference(logits, labels, qwen2_tokenizer)  # value (1 + 0.3) * mle; recover ntil below
        mle = float(out.components["ce"])
        assert float(out.components["ntil"]) > 0
        assert float(out.loss) == pytest.approx(mle + 0.3 * float(out.components["ntil"]), rel=1e-10)
        if num_items is None:
            assert 1.3 * mle == pytest.approx(float(reference), rel=1e-10)


def _single_number_case(tokenizer, truth: str, predicted: str):
    """Labels holding ``truth`` and logits whose argmax spells ``predicted`` (same token count)."""
    labels = encode_batch(tokenizer, ["x " + truth], prompt_len=1)
    wanted = encode_batch(tokenizer, ["x " + predicted], prompt_len=1)
    assert labels.shape == wanted.shape
    return labels, confident_logits(wanted, len(tokenizer), margin=20.0).double()


def test_eps_is_scaled_by_the_lowest_decimal_place(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels, logits = _single_number_case(qwen2_tokenizer, "0.034", "0.041")
    args = {"gumbel_noise_scale": 0.0, "alpha": 1.0, "beta": 1.0}
    scaled = metric_token_loss(logits, labels, vocab, "ntil", args, num_items_in_batch=1).components
    assert float(scaled["rel"]) == pytest.approx(7 / (41 + 1), rel=1e-9)  # like 34 vs 41
    assert float(scaled["mag"]) == pytest.approx(math.log((41 + 1) / (34 + 1)), rel=1e-9)
    absolute = metric_token_loss(logits, labels, vocab, "ntil", {**args, "eps_scale": "absolute"}, num_items_in_batch=1).components
    assert float(absolute["rel"]) == pytest.approx(0.007 / (0.041 + 1), rel=1e-9)


def test_whole_numbers_are_rebuilt_in_float64(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels, logits = _single_number_case(qwen2_tokenizer, "123456789", "123456788")
    out = metric_token_loss(logits.float(), labels, vocab, "ntil", {"gumbel_noise_scale": 0.0}, num_items_in_batch=1)
    assert float(out.components["rel"]) == pytest.approx(1 / (123456789 + 1), rel=1e-5)
    assert float(out.components["mag"]) == pytest.approx(math.log(123456790 / 123456789), rel=1e-5)
