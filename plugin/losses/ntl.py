"""Number Token Loss (Zausinger et al., ICML 2025; the `ntloss` package is the peer implementation).

* NTL-MSE: squared error between the expected value under p (renormalised over the token's group)
  and the true value, in digit units.
* NTL-WAS: the Wasserstein-1 distance to the one-hot target, ``sum_i p_i |v_i - y|`` — the same
  quantity as our token-level EMD, so it reuses that code.
Codebook tokens have no scalar value: NTL-MSE skips them (NTL-WAS uses the embedding distance).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .emd import weighted_emd
from .registry import TermResult, check_positive, register_loss
from .targets import MetricTargets


@dataclass
class NTLArgs:
    lam: float = 0.3  # weight of the term added to CE

    def __post_init__(self) -> None:
        check_positive("lam", self.lam)


def ntl_mse_term(targets: MetricTargets, block: torch.Tensor, lse: torch.Tensor, ce_sum: torch.Tensor, args: NTLArgs) -> TermResult:
    p = torch.softmax(block, dim=-1)
    unit = targets.unit[:, None]
    expected = (p * (targets.values / unit).to(block.dtype)).sum(-1)
    truth = (targets.target_value / targets.unit).to(block.dtype)
    mse = torch.where(targets.codebook_rows, torch.zeros_like(expected), (expected - truth) ** 2).sum()
    return TermResult(args.lam * mse, {"ntl_mse": mse})


def ntl_was_term(targets: MetricTargets, block: torch.Tensor, lse: torch.Tensor, ce_sum: torch.Tensor, args: NTLArgs) -> TermResult:
    was = weighted_emd(targets, block, sigma=0.0, max_exponent=0)
    return TermResult(args.lam * was, {"ntl_was": was})


NTL_MSE = register_loss("ntl_mse", NTLArgs, ntl_mse_term, "CE + lam * (E_p[v] - y)^2 (NTL-MSE)")
NTL_WAS = register_loss("ntl_was", NTLArgs, ntl_was_term, "CE + lam * sum_i p_i |v_i - y| (NTL-WAS)")
