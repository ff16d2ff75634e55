"""Cross-entropy plus a metric term, with ONE vocabulary-sized gradient buffer.

Autograd through ``F.cross_entropy(logits) + term(logits[rows][:, cols])`` would keep CE's
[N, V] log-softmax for backward *and* materialise a second dense [N, V] gradient for the gathered
block (index backward scatters into zeros), i.e. +1 vocabulary-sized buffer (+33 % peak memory at
Qwen2 scale). Instead this function

* forward: computes the log-sum-exp row by row in chunks (fp32 whatever the logits dtype) and the
  metric term on the small gathered block; the term's gradient w.r.t. that block (and w.r.t. the
  rows' log-sum-exp, which full-vocabulary KL needs) is taken right away with autograd on the
  K x G leaf — cheap, and it keeps the term functions plain differentiable PyTorch;
* backward: writes ``softmax * coef - onehot + block_grad`` into one buffer, chunk by chunk, in
  fp32, casting each chunk once to the logits dtype.

Nothing in it depends on the number of tokens except through tensor shapes: no ``.item()``, no
loop over tokens (the loop is over row chunks of ~32M elements).
"""

from __future__ import annotations

from typing import Callable

import torch

from .targets import NEG, MetricTargets

# Extra term: (block logits [K, G], block log-sum-exp [K], detached CE sum) -> scalar sum over tokens.
TermFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

CHUNK_ELEMENTS = 1 << 25  # 32M logits (128 MB in fp32) per chunk of rows


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Extra terms and CE run in fp32 (fp64 stays fp64, e.g. for gradcheck)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _chunks(n_rows: int, width: int):
    step = max(1, CHUNK_ELEMENTS // max(width, 1))
    for start in range(0, n_rows, step):
        yield start, min(n_rows, start + step)


class _CrossEntropyWithMetricTerm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, labels, normaliser, rows, cols, valid, term_fn):  # noqa: D401
        n, vocab = logits.shape
        cdt = compute_dtype(logits.dtype)
        supervised = labels != -100
        safe = torch.where(supervised, labels, torch.zeros_like(labels))
        lse = torch.empty(n, dtype=cdt, device=logits.device)
        for s, e in _chunks(n, vocab):
            lse[s:e] = torch.logsumexp(logits[s:e].to(cdt), dim=-1)
        picked = logits.gather(1, safe[:, None]).squeeze(1).to(cdt)
        ce_sum = torch.where(supervised, lse - picked, torch.zeros_like(lse)).sum()

        extra = torch.zeros((), dtype=cdt, device=logits.device)
        block_grad = lse_grad = None
        if rows.numel() > 0:
            block = logits[rows[:, None], cols].to(cdt).masked_fill(~valid, NEG)
            with torch.enable_grad():
                block_leaf = block.detach().requires_grad_(True)
                lse_leaf = lse[rows].detach().requires_grad_(True)
                term = term_fn(block_leaf, lse_leaf, ce_sum.detach())
                if term.requires_grad:
                    block_grad, lse_grad = torch.autograd.grad(term, [block_leaf, lse_leaf], allow_unused=True)
            extra = term.detach().to(cdt)
        if block_grad is None:
            block_grad = torch.zeros(rows.shape[0], cols.shape[1], dtype=cdt, device=logits.device)
        if lse_grad is None:
            lse_grad = torch.zeros(rows.shape[0], dtype=cdt, device=logits.device)
        block_grad = block_grad.masked_fill(~valid, 0.0)
        ctx.save_for_backward(logits, safe, supervised, lse, rows, cols, block_grad, lse_grad, normaliser)
        ce_out, extra_out = ce_sum / normaliser, extra / normaliser
        ctx.mark_non_differentiable(ce_out, extra_out)
        return (ce_sum + extra) / normaliser, ce_out, extra_out

    @staticmethod
    def backward(ctx, grad_total, _grad_ce, _grad_extra):
        logits, safe, supervised, lse, rows, cols, block_grad, lse_grad, normaliser = ctx.saved_tensors
        n, vocab = logits.shape
        cdt = lse.dtype
        scale = grad_total.to(cdt) / normaliser.to(cdt)
        # d/dz of sum_t (lse_t - z_t,y) = softmax * [t supervised] - onehot; the term adds
        # softmax * d(term)/d(lse_t) on its rows and its own block gradient.
        coef = supervised.to(cdt).index_add(0, rows, lse_grad)
        grad = torch.empty_like(logits)
        for s, e in _chunks(n, vocab):
            chunk = torch.exp(logits[s:e].to(cdt) - lse[s:e, None]) * coef[s:e, None]
            chunk.scatter_add_(1, safe[s:e, None], -supervised[s:e, None].to(cdt))
            inside = (rows >= s) & (rows < e)
            local = (rows - s).clamp(0, e - s - 1)
            chunk.index_put_(
                (local[:, None].expand_as(cols), cols),
                torch.where(inside[:, None], block_grad, torch.zeros_like(block_grad)),
                accumulate=True,
            )
            grad[s:e] = (chunk * scale).to(logits.dtype)
        return grad, None, None, None, None, None, None


def cross_entropy_with_metric_term(
    logits: torch.Tensor,
    labels: torch.Tensor,
    normaliser: torch.Tensor,
    targets: MetricTargets,
    term_fn: TermFn,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(CE_sum + term) / normaliser`` with a single dense gradient buffer.

    ``logits`` [N, V] (any float dtype; padded vocabularies welcome), ``labels`` [N] already shifted
    (-100 = ignored). Returns ``(loss, ce, term)``; only ``loss`` carries a gradient.
    """
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"expected logits [N, V] and labels [N]; got {tuple(logits.shape)} and {tuple(labels.shape)}")
    normaliser = torch.as_tensor(normaliser, device=logits.device)
    return _CrossEntropyWithMetricTerm.apply(
        logits, labels, normaliser, targets.rows, targets.cols, targets.valid, term_fn
    )
