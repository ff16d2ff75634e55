"""The hidden-state head path equals the logits path: loss, components and every gradient.

Reference: ``metric_token_loss(F.linear(hidden, W, b), ...)`` — the logits path, itself checked
against dense loop references — and, for plain CE, ``F.cross_entropy`` on the full logits.
Small ``chunk_rows`` puts chunk boundaries inside numbers and between metric rows.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from metricsft import build_metric_vocab, metric_token_loss
from metricsft.losses.fused_head import metric_token_loss_from_hidden
from tests.plugin.conftest import TEXTS, encode_batch

HIDDEN = 24
LOSSES = [("ce", {}), ("ntil", {"gumbel": False}), ("dist2", {}), ("dist2", {"normalize": "metric"}), ("emd", {}), ("ntl_was", {})]


def head_inputs(labels: torch.Tensor, vocab_width: int, dtype=torch.float32, bias: bool = True, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(*labels.shape, HIDDEN, generator=gen).to(dtype).requires_grad_(True)
    weight = (torch.randn(vocab_width, HIDDEN, generator=gen) * 0.5).to(dtype).requires_grad_(True)
    b = (torch.randn(vocab_width, generator=gen) * 0.1).to(dtype).requires_grad_(True) if bias else None
    return hidden, weight, b


def both_paths(hidden, weight, bias, labels, vocab, loss, args, chunk_rows=5, **kwargs):
    params = [t for t in (hidden, weight, bias) if t is not None]
    dense = metric_token_loss(F.linear(hidden, weight, bias), labels, vocab, loss, args, **kwargs)
    dense_grads = torch.autograd.grad(dense.loss, params)
    fused = metric_token_loss_from_hidden(
        hidden, weight, labels, vocab, loss, args, head_bias=bias, chunk_rows=chunk_rows, **kwargs
    )
    fused_grads = torch.autograd.grad(fused.loss, params)
    return dense, dense_grads, fused, fused_grads


def assert_relative(actual: torch.Tensor, expected: torch.Tensor, rel: float, what: str) -> None:
    scale = expected.double().norm().clamp_min(1e-30)
    difference = float((actual.double() - expected.double()).norm() / scale)
    assert difference <= rel, f"{what}: relative difference {difference:.2e} > {rel}"


@pytest.mark.parametrize("loss,args", LOSSES)
def test_hidden_path_equals_logits_path_fp32(qwen2_tokenizer, loss, args):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, TEXTS, prompt_len=3)
    hidden, weight, bias = head_inputs(labels, len(qwen2_tokenizer) + 29)  # padded vocabulary
    dense, dense_grads, fused, fused_grads = both_paths(hidden, weight, bias, labels, vocab, loss, args)
    assert float(fused.loss.detach()) == pytest.approx(float(dense.loss.detach()), rel=1e-6)
    assert set(fused.components) == set(dense.components)
    for name, value in dense.components.items():
        assert float(fused.components[name]) == pytest.approx(float(value), rel=1e-6, abs=1e-9), name
    if loss != "ce":
        assert float(dense.components["metric_term"]) > 0
    for what, got, want in zip(("hidden", "weight", "bias"), fused_grads, dense_grads):
        assert_relative(got, want, 1e-5, what)


def test_ce_equals_torch_cross_entropy_and_skips_unsupervised_rows(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, TEXTS, prompt_len=6)
    hidden, weight, bias = head_inputs(labels, len(qwen2_tokenizer), bias=False, seed=3)
    fused = metric_token_loss_from_hidden(hidden, weight, labels, vocab, "ce", chunk_rows=3)
    shifted = F.pad(labels[:, 1:], (0, 1), value=-100)
    expected = F.cross_entropy(F.linear(hidden, weight).reshape(-1, weight.shape[0]), shifted.reshape(-1))
    assert float(fused.loss.detach()) == pytest.approx(float(expected), rel=1e-6)
    (grad_hidden,) = torch.autograd.grad(fused.loss, hidden)
    # Positions without a label get exactly zero gradient: the head never ran there.
    assert torch.all(grad_hidden[shifted == -100] == 0)
    assert torch.all(grad_hidden[shifted != -100].abs().sum(-1) > 0)


def test_packed_sequences_and_num_items(qwen2_tokenizer):
    """Two sequences packed in one row (position ids restart) and a global token count."""
    vocab = build_metric_vocab(qwen2_tokenizer)
    a, b = (qwen2_tokenizer(t, add_special_tokens=False)["input_ids"] for t in ("x = 12", "34 then 5.6"))
    labels = torch.tensor([a + b])
    position_ids = torch.tensor([list(range(len(a))) + list(range(len(b)))])
    hidden, weight, bias = head_inputs(labels, len(qwen2_tokenizer), seed=5)
    kwargs = {"position_ids": position_ids, "num_items_in_batch": 17}
    dense, dense_grads, fused, fused_grads = both_paths(
        hidden, weight, bias, labels, vocab, "ntil", {"gumbel": False}, chunk_rows=2, **kwargs
    )
    assert float(dense.components["numbers"]) == 3.0  # 12 | 34 | 5.6: the boundary splits "1234"
    assert float(fused.components["numbers"]) == 3.0
    assert float(fused.loss.detach()) == pytest.approx(float(dense.loss.detach()), rel=1e-6)
    for what, got, want in zip(("hidden", "weight", "bias"), fused_grads, dense_grads):
        assert_relative(got, want, 1e-5, what)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_matches_the_logits_path(qwen2_tokenizer, dtype):
    """Both paths compute the head in the head's dtype and the loss in fp32; gradients come back
    in the parameters' dtype. Only the order of the weight gradient's summation differs."""
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, TEXTS, prompt_len=3)
    hidden, weight, bias = head_inputs(labels, len(qwen2_tokenizer), dtype=dtype, seed=7)
    dense, dense_grads, fused, fused_grads = both_paths(hidden, weight, bias, labels, vocab, "dist2", {})
    assert fused.loss.dtype == torch.float32
    assert float(fused.loss.detach()) == pytest.approx(float(dense.loss.detach()), rel=1e-5)
    for what, got, want in zip(("hidden", "weight", "bias"), fused_grads, dense_grads):
        assert got.dtype == dtype
        assert_relative(got, want, 2e-2, what)


def test_frozen_head_and_no_labels(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, TEXTS[:2])
    hidden, weight, _ = head_inputs(labels, len(qwen2_tokenizer), bias=False)
    weight = weight.detach()  # a LoRA run: the head is frozen, only the hidden states need a gradient
    fused = metric_token_loss_from_hidden(hidden, weight, labels, vocab, "ntil", {"gumbel": False})
    dense = metric_token_loss(F.linear(hidden, weight), labels, vocab, "ntil", {"gumbel": False})
    assert_relative(torch.autograd.grad(fused.loss, hidden)[0], torch.autograd.grad(dense.loss, hidden)[0], 1e-5, "hidden")

    nothing = torch.full_like(labels, -100)
    weight.requires_grad_(True)
    empty = metric_token_loss_from_hidden(hidden, weight, nothing, vocab, "ntil")
    assert float(empty.loss.detach()) == 0.0
    for grad in torch.autograd.grad(empty.loss, [hidden, weight]):
        assert torch.all(grad == 0)


def test_shape_errors_name_the_tensors(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, TEXTS[:1])
    hidden, weight, _ = head_inputs(labels, 64, bias=False)
    with pytest.raises(ValueError, match=r"hidden states must be \[batch, length, hidden\]"):
        metric_token_loss_from_hidden(hidden[0], weight, labels, vocab, "ce")
    with pytest.raises(ValueError, match=r"head weight \[V, H\]"):
        metric_token_loss_from_hidden(hidden, weight[:, :5], labels, vocab, "ce")


@pytest.mark.parametrize("path", ["logits", "hidden"])
def test_profiler_sees_metricsft_ranges(qwen2_tokenizer, path):
    """bench/train_step.py (and any user's torch.profiler trace) finds the metric work by these range names."""
    from metricsft.losses.fused import TARGETS_RANGE, TERM_RANGE

    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, TEXTS[:2])
    hidden, weight, bias = head_inputs(labels, len(qwen2_tokenizer), bias=False)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        if path == "logits":
            out = metric_token_loss(F.linear(hidden, weight), labels, vocab, "ntil")
        else:
            out = metric_token_loss_from_hidden(hidden, weight, labels, vocab, "ntil")
        out.loss.backward()
    calls = {event.key: event.count for event in prof.key_averages()}
    assert calls.get(TARGETS_RANGE) == 1 and calls.get(TERM_RANGE) == 1, sorted(k for k in calls if "metricsft" in k)


class _HostConstants(TorchDispatchMode):
    """Records every tensor made from host (Python) data: on an accelerator each is a blocking copy
    that stalls the launch queue in the middle of the loss."""

    def __init__(self):
        super().__init__()
        self.made = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.lift_fresh.default:
            self.made.append(tuple(args[0].shape))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("loss,args", [("ntil", {}), ("dist2", {}), ("ntil", {"preset": "official"}), ("emd", {})])
def test_a_step_makes_no_tensors_from_host_values(qwen2_tokenizer, loss, args):
    """After the vocabulary tables exist, a loss step copies nothing from the host (torch.tensor(x, device=...))."""
    vocab = build_metric_vocab(qwen2_tokenizer)
    labels = encode_batch(qwen2_tokenizer, TEXTS)
    hidden, weight, bias = head_inputs(labels, len(qwen2_tokenizer), bias=False)
    metric_token_loss_from_hidden(hidden, weight, labels, vocab, loss, args).loss.backward()  # builds the tables
    with _HostConstants() as mode:
        metric_token_loss_from_hidden(hidden, weight, labels, vocab, loss, args).loss.backward()
    assert mode.made == [], f"{len(mode.made)} tensor(s) made from host values in one {loss} step"
