"""Output head + cross-entropy + metric term from final hidden states, at supervised rows only.

The logits path needs ``lm_head`` over every position: [B*T, V] logits and their gradient, though
in VLM SFT only a few percent of positions carry a label. Here the loss receives the hidden states
of the supervised rows ([N, H]) and the head weight ([V, H], bias [V]) and, per row chunk,

* forward: ``logits = h[chunk] @ W.T (+ b)`` in the head's dtype (as ``nn.Linear`` would), then in
  fp32: the row log-sum-exp, the label's logit and the K metric rows' group columns; the metric
  term and its gradient w.r.t. that small block are taken at once (shared with the logits path);
* backward: recomputes the chunk's logits, builds ``d loss / d logits`` in fp32 and turns it into
  ``grad_h[chunk] = g @ W`` and ``grad_W += g.T @ h[chunk]`` (and ``grad_b += g.sum(0)``).

So no [N, V] tensor ever exists: one [chunk, V] block (plus its fp32 copy for half precision) and,
for a trainable head, one [V, H] fp32 accumulator when the head is in half precision. The extra
cost is one more head matmul over the supervised rows in backward (the recomputation).

>>> out = metric_token_loss_from_hidden(hidden, lm_head.weight, labels, vocab, "ntil")   # doctest: +SKIP
>>> out.loss.backward()   # grads reach hidden (the model) and lm_head.weight          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from ..spans import IGNORE_INDEX
from ..vocab import MetricVocab
from .functional import LossOutput, metric_loss_over_labels
from .fused import CHUNK_ELEMENTS, TermFn, add_block_gradient, compute_dtype, metric_term_with_grads
from .registry import LossSpec
from .targets import MetricTargets


# On an accelerator, few large chunks keep the head matmuls efficient (one ~1 GB fp32 block at
# V=151,936 is ~1,700 rows); on CPU the logits path's 32M-element chunks are the faster size.
ACCELERATOR_CHUNK_ELEMENTS = 1 << 28


def _row_chunks(n_rows: int, vocab: int, chunk_rows: int | None, device: torch.device):
    budget = CHUNK_ELEMENTS if device.type == "cpu" else ACCELERATOR_CHUNK_ELEMENTS
    step = chunk_rows or max(1, budget // max(vocab, 1))
    for start in range(0, n_rows, step):
        yield start, min(n_rows, start + step)


def _head_logits(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``nn.Linear`` in the head's dtype (a hidden state upcast by a hook is cast back losslessly)."""
    return torch.nn.functional.linear(hidden.to(weight.dtype), weight, bias)


class _HeadCrossEntropyWithMetricTerm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, labels, normaliser, rows, cols, valid, term_fn, chunk_rows):  # noqa: D401
        n, vocab = hidden.shape[0], weight.shape[0]
        cdt = compute_dtype(weight.dtype)
        supervised = labels != IGNORE_INDEX
        safe = torch.where(supervised, labels, torch.zeros_like(labels))
        lse = torch.empty(n, dtype=cdt, device=hidden.device)
        picked = torch.empty(n, dtype=cdt, device=hidden.device)
        block = torch.zeros(rows.shape[0], cols.shape[1], dtype=cdt, device=hidden.device)
        for s, e in _row_chunks(n, vocab, chunk_rows, hidden.device):
            logits = _head_logits(hidden[s:e], weight, bias).to(cdt)
            picked[s:e] = logits.gather(1, safe[s:e, None]).squeeze(1)
            # The metric rows that fall in this chunk (rows are sorted; no boolean index, no sync).
            inside = (rows >= s) & (rows < e)
            local = (rows - s).clamp(0, e - s - 1)
            block = torch.where(inside[:, None], logits[local[:, None], cols], block)
            peak = logits.amax(dim=-1, keepdim=True)
            peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
            lse[s:e] = logits.sub_(peak).exp_().sum(dim=-1).log_() + peak.squeeze(1)
        ce_sum = torch.where(supervised, lse - picked, torch.zeros_like(lse)).sum()
        extra, block_grad, lse_grad = metric_term_with_grads(block, lse[rows], ce_sum, valid, term_fn)
        ctx.save_for_backward(hidden, weight, bias, safe, supervised, lse, rows, cols, block_grad, lse_grad, normaliser)
        ctx.chunk_rows = chunk_rows
        ce_out, extra_out = ce_sum / normaliser, extra / normaliser
        ctx.mark_non_differentiable(ce_out, extra_out)
        return (ce_sum + extra) / normaliser, ce_out, extra_out

    @staticmethod
    def backward(ctx, grad_total, _grad_ce, _grad_extra):
        hidden, weight, bias, safe, supervised, lse, rows, cols, block_grad, lse_grad, normaliser = ctx.saved_tensors
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        n, vocab = hidden.shape[0], weight.shape[0]
        cdt = lse.dtype
        scale = grad_total.to(cdt) / normaliser.to(cdt)
        # Same d loss / d logits as the logits path (fused.py): softmax * coef - onehot + block grad.
        coef = supervised.to(cdt).index_add(0, rows, lse_grad) * scale
        onehot = -supervised.to(cdt) * scale
        block_grad = block_grad * scale
        grad_h = torch.empty_like(hidden) if need_h else None
        chunks = list(_row_chunks(n, vocab, ctx.chunk_rows, hidden.device))
        # Over several chunks, a half-precision head accumulates its gradient in fp32 (cast once at
        # the end); one chunk (few supervised rows) writes it directly, sparing a [V, H] fp32 buffer.
        many = len(chunks) > 1
        grad_w = None  # one chunk: assigned in the loop
        if need_w and (many or not chunks):
            grad_w = torch.zeros(weight.shape, dtype=cdt if many else weight.dtype, device=weight.device)
        grad_b = torch.zeros(vocab, dtype=cdt, device=weight.device) if need_b else None
        for s, e in chunks:
            h = hidden[s:e].to(weight.dtype)
            g = _head_logits(h, weight, bias).to(cdt)
            g.sub_(lse[s:e, None]).exp_().mul_(coef[s:e, None])
            g.scatter_add_(1, safe[s:e, None], onehot[s:e, None])
            add_block_gradient(g, s, e, rows, cols, block_grad)
            # The logits path hands the head a gradient in the logits' dtype: round the same way.
            g_head = g.to(weight.dtype)
            if need_h:
                grad_h[s:e] = (g_head @ weight).to(hidden.dtype)
            if need_w and not many:
                grad_w = g_head.t() @ h
            elif need_w and grad_w.dtype == h.dtype:
                grad_w.addmm_(g_head.t(), h)
            elif need_w:
                grad_w.add_(g_head.t() @ h)
            if need_b:
                grad_b.add_(g_head.sum(0, dtype=cdt))
        grad_w = grad_w.to(weight.dtype) if need_w else None
        grad_b = grad_b.to(bias.dtype) if need_b else None
        return grad_h, grad_w, grad_b, None, None, None, None, None, None, None


def head_cross_entropy_with_metric_term(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    labels: torch.Tensor,
    normaliser: torch.Tensor,
    targets: MetricTargets,
    term_fn: TermFn,
    rows: torch.Tensor,
    chunk_rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(CE_sum + term) / normaliser`` from hidden states [N, H] and a head ``weight`` [V, H] (+ ``bias`` [V]).

    ``labels`` [N] (already shifted), ``rows`` [K] the metric rows' indices into these N rows (in
    the order of ``targets``). Returns ``(loss, ce, term)``; only ``loss`` carries a gradient.
    """
    if hidden.ndim != 2 or weight.ndim != 2 or hidden.shape[1] != weight.shape[1] or labels.shape != hidden.shape[:1]:
        raise ValueError(
            f"expected hidden [N, H], head weight [V, H] and labels [N]; got {tuple(hidden.shape)}, "
            f"{tuple(weight.shape)} and {tuple(labels.shape)}"
        )
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"head bias must be [V] = [{weight.shape[0]}]; got {tuple(bias.shape)}")
    normaliser = torch.as_tensor(normaliser, device=hidden.device)
    return _HeadCrossEntropyWithMetricTerm.apply(
        hidden, weight, bias, labels, normaliser, rows, targets.cols, targets.valid, term_fn, chunk_rows
    )


def metric_token_loss_from_hidden(
    hidden: torch.Tensor,
    head_weight: torch.Tensor,
    labels: torch.Tensor,
    vocab: MetricVocab,
    loss: str | LossSpec = "ntil",
    args: Mapping[str, Any] | Any | None = None,
    *,
    head_bias: torch.Tensor | None = None,
    num_items_in_batch: int | torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    shift: bool = True,
    chunk_rows: int | None = None,
) -> LossOutput:
    """:func:`metric_token_loss` with ``logits = hidden @ head_weight.T + head_bias``, never materialised.

    ``hidden`` [B, T, H] final hidden states (the input of the model's output head), ``labels``
    [B, T] as for ``metric_token_loss``. Equal to ``metric_token_loss(lm_head(hidden), labels, ...)``
    in value and gradient (w.r.t. ``hidden``, ``head_weight`` and ``head_bias``), but the head runs
    only on the supervised positions, ``chunk_rows`` rows at a time (default: ~32M logits a chunk).
    """
    if hidden.ndim != 3 or hidden.shape[:2] != labels.shape:
        raise ValueError(
            f"hidden states must be [batch, length, hidden] matching labels [batch, length]; got "
            f"{tuple(hidden.shape)} and {tuple(labels.shape)}"
        )

    def fused(flat_labels: torch.Tensor, normaliser: torch.Tensor, targets: MetricTargets, term_fn: TermFn):
        supervised = flat_labels != IGNORE_INDEX
        keep = supervised.nonzero().squeeze(1)  # one host sync: the number of supervised rows
        # Metric rows are supervised rows: their index among the kept rows is a running count.
        rows = (supervised.cumsum(0) - 1)[targets.rows]
        kept_hidden = hidden.reshape(-1, hidden.shape[-1]).index_select(0, keep)
        return head_cross_entropy_with_metric_term(
            kept_hidden, head_weight, head_bias, flat_labels[keep], normaliser, targets, term_fn, rows, chunk_rows
        )

    return metric_loss_over_labels(
        fused, labels, vocab, loss, args, num_items_in_batch=num_items_in_batch, position_ids=position_ids, shift=shift
    )
