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
  fp32 (in place for fp32 logits; through one fp32 scratch chunk for half precision).

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

# Names of the profiler ranges around metricsft's own work (``torch.profiler`` traces show them; without
# an active profiler a range costs a few microseconds). ``bench/train_step.py`` reads them to report what
# the metric term costs inside a real step.
TARGETS_RANGE = "metricsft::metric_targets"
TERM_RANGE = "metricsft::metric_term"


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Extra terms and CE run in fp32 (fp64 stays fp64, e.g. for gradcheck)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _chunk_rows(n_rows: int, width: int) -> int:
    return max(1, min(n_rows, CHUNK_ELEMENTS // max(width, 1)))


def _chunks(n_rows: int, width: int):
    step = _chunk_rows(n_rows, width)
    for start in range(0, n_rows, step):
        yield start, min(n_rows, start + step)


def row_logsumexp(logits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[N] log-sum-exp of each row in ``dtype``, through one reused scratch chunk.

    max, then exp(x - max) written in place into the scratch: on CPU this is ~1.4x faster than
    ``torch.logsumexp`` (which allocates its temporaries per call) and never holds more than one
    chunk beyond the logits.
    """
    n, vocab = logits.shape
    out = torch.empty(n, dtype=dtype, device=logits.device)
    scratch = torch.empty(_chunk_rows(n, vocab), vocab, dtype=dtype, device=logits.device)
    for s, e in _chunks(n, vocab):
        rows = logits[s:e]
        peak = rows.amax(dim=-1, keepdim=True).to(dtype)
        peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))  # all -inf rows stay -inf
        work = scratch[: e - s]
        torch.sub(rows, peak, out=work)
        out[s:e] = work.exp_().sum(dim=-1).log_() + peak.squeeze(1)
    return out


def metric_term_with_grads(
    block: torch.Tensor, block_lse: torch.Tensor, ce_sum: torch.Tensor, valid: torch.Tensor, term_fn: TermFn
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The metric term on the K x G block and its gradients w.r.t. the block and the rows' lse.

    Taken right away with autograd on small leaves, so term functions stay plain differentiable
    PyTorch and the big backward only has to add ``block_grad`` and ``softmax * lse_grad``.
    Returns ``(term, block_grad [K, G], lse_grad [K])``, all in ``block.dtype``; padded columns
    get exactly zero gradient.
    """
    with torch.profiler.record_function(TERM_RANGE):
        cdt = block.dtype
        extra = torch.zeros((), dtype=cdt, device=block.device)
        block_grad = lse_grad = None
        if block.shape[0] > 0:
            with torch.enable_grad():
                block_leaf = block.detach().masked_fill(~valid, NEG).requires_grad_(True)
                lse_leaf = block_lse.detach().requires_grad_(True)
                term = term_fn(block_leaf, lse_leaf, ce_sum.detach())
                if term.requires_grad:
                    block_grad, lse_grad = torch.autograd.grad(term, [block_leaf, lse_leaf], allow_unused=True)
            extra = term.detach().to(cdt)
        if block_grad is None:
            block_grad = torch.zeros_like(block)
        if lse_grad is None:
            lse_grad = torch.zeros_like(block_lse)
        return extra, block_grad.masked_fill(~valid, 0.0), lse_grad


def add_block_gradient(
    chunk: torch.Tensor, start: int, end: int, rows: torch.Tensor, cols: torch.Tensor, block_grad: torch.Tensor
) -> None:
    """Add the metric block's gradient into ``chunk``, the [end - start, V] gradient of rows [start, end).

    Rows outside the chunk add zeros (a masked add instead of a boolean index: no host sync).
    """
    inside = (rows >= start) & (rows < end)
    local = (rows - start).clamp(0, end - start - 1)
    chunk.index_put_(
        (local[:, None].expand_as(cols), cols),
        torch.where(inside[:, None], block_grad, torch.zeros_like(block_grad)),
        accumulate=True,
    )


class _CrossEntropyWithMetricTerm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, labels, normaliser, rows, cols, valid, term_fn):  # noqa: D401
        n, vocab = logits.shape
        cdt = compute_dtype(logits.dtype)
        supervised = labels != -100
        safe = torch.where(supervised, labels, torch.zeros_like(labels))
        lse = row_logsumexp(logits, cdt)
        picked = logits.gather(1, safe[:, None]).squeeze(1).to(cdt)
        ce_sum = torch.where(supervised, lse - picked, torch.zeros_like(lse)).sum()

        block = logits[rows[:, None], cols].to(cdt)
        extra, block_grad, lse_grad = metric_term_with_grads(block, lse[rows], ce_sum, valid, term_fn)
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
        coef = supervised.to(cdt).index_add(0, rows, lse_grad) * scale
        onehot = -supervised.to(cdt) * scale
        block_grad = block_grad * scale
        grad = torch.empty_like(logits)
        # fp32/fp64 logits: build each chunk in place in the gradient buffer (3 passes over memory);
        # half precision: in one fp32 scratch chunk, cast once on the way out.
        scratch = None if logits.dtype == cdt else torch.empty(_chunk_rows(n, vocab), vocab, dtype=cdt, device=logits.device)
        for s, e in _chunks(n, vocab):
            chunk = grad[s:e] if scratch is None else scratch[: e - s]
            torch.sub(logits[s:e], lse[s:e, None], out=chunk)
            chunk.exp_().mul_(coef[s:e, None])  # softmax * coef
            chunk.scatter_add_(1, safe[s:e, None], onehot[s:e, None])
            add_block_gradient(chunk, s, e, rows, cols, block_grad)
            if scratch is not None:
                grad[s:e].copy_(chunk)
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
