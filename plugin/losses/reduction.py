"""How a metric term's per-token and per-number parts become one number.

* ``token`` (metricsft's default): plain sums. Divided by ``num_items_in_batch`` together with CE,
  so gradient accumulation and data parallel give exactly the one-big-batch loss.
* ``sequence`` (the official NTIL code): per sequence, the mean over its metric tokens and the mean
  over its numbers; then the mean over the sequences of the batch (sequences without numbers count
  as 0). The value is a batch mean, so :func:`combine_with_ce` multiplies it by the normaliser to
  make ``(CE_sum + term) / normaliser`` come out as ``mean CE + lam * term``.

>>> REDUCTIONS
('token', 'sequence')
"""

from __future__ import annotations

import torch

from .targets import MetricTargets

REDUCTIONS = ("token", "sequence")
RATIO_EPS = 1e-10  # the official code's guard in mle / (ntil + 1e-10)


def _sequence_mean(values: torch.Tensor, sequence: torch.Tensor, include: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Mean over the batch of each sequence's mean of ``values`` (0 for a sequence with none)."""
    zero = torch.zeros_like(values)
    sums = torch.zeros(batch_size, dtype=values.dtype, device=values.device).index_add(0, sequence, torch.where(include, values, zero))
    counts = torch.zeros(batch_size, dtype=values.dtype, device=values.device).index_add(0, sequence, include.to(values.dtype))
    return (sums / counts.clamp_min(1)).sum() / batch_size


def per_token_to_total(targets: MetricTargets, per_token: torch.Tensor, reduction: str) -> torch.Tensor:
    """[K] per metric token -> the term's token part under ``reduction``."""
    if reduction == "token":
        return per_token.sum()
    sequence = torch.div(targets.rows, targets.seq_len, rounding_mode="floor")
    return _sequence_mean(per_token, sequence, torch.ones_like(per_token, dtype=torch.bool), targets.batch_size)


def per_number_to_total(targets: MetricTargets, per_number: torch.Tensor, reduction: str) -> torch.Tensor:
    """[N] per number (0 where none) -> the term's number part under ``reduction``."""
    if reduction == "token":
        return per_number.sum()
    return _sequence_mean(per_number, targets.number_sequence(), targets.number_in_scope, targets.batch_size)


def combine_with_ce(
    targets: MetricTargets, term: torch.Tensor, ce_sum: torch.Tensor, lam: float, reduction: str, ratio_scaling: bool
) -> torch.Tensor:
    """The summed extra term that, added to the CE sum and divided by the normaliser, gives the loss.

    ``ratio_scaling`` is the official code's ``mle + lam * (mle / term).detach() * term``: the value is
    always ``lam * CE`` and only the direction of the gradient comes from the term.
    """
    if ratio_scaling:
        return lam * term * (ce_sum / (term.detach() + RATIO_EPS))
    if reduction == "sequence":
        return lam * term * targets.require_normaliser().to(term.dtype)
    return lam * term


def reported(targets: MetricTargets, value: torch.Tensor, reduction: str) -> torch.Tensor:
    """A component as logged: the caller divides every component by the normaliser, so a
    batch-mean (``sequence``) component is multiplied back to show the batch mean itself."""
    if reduction == "sequence":
        return value * targets.require_normaliser().to(value.dtype)
    return value
