"""Token-level Earth Mover's Distance over a metric group.

For a one-hot target y the 1-D EMD between the predicted distribution p (renormalised over the
group) and the target is ``sum_i p_i |v_i - y|`` (equal to the L1 distance between the CDFs when the
values are ordered), measured in digit units (see ``MetricGroup.unit``). NTL-WAS (Zausinger et al.)
is the same quantity; it is registered under its own name in :mod:`metricsft.losses.ntl`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .registry import TermResult, check_positive, register_loss
from .targets import MetricTargets


@dataclass
class EMDArgs:
    lam: float = 0.3  # weight of the term added to CE
    sigma: float = 0.0  # place-value weight (1 + sigma) ** (digits to the right); 0 = unweighted
    max_place_exponent: int = 64  # cap on that exponent (keeps 1000-digit runs finite)

    def __post_init__(self) -> None:
        check_positive("lam", self.lam)
        check_positive("sigma", self.sigma)
        check_positive("max_place_exponent", self.max_place_exponent)


def emd_per_token(targets: MetricTargets, block: torch.Tensor) -> torch.Tensor:
    """[K] expected distance ``sum_i p_i |v_i - y|`` with p = softmax over the token's group."""
    p = torch.softmax(block, dim=-1)
    return (p * targets.unit_distance().to(block.dtype)).sum(-1)


def weighted_emd(targets: MetricTargets, block: torch.Tensor, sigma: float, max_exponent: int) -> torch.Tensor:
    """Sum over tokens of the place-weighted EMD (the token-level part of NTIL)."""
    weights = targets.place_weights(sigma, max_exponent).to(block.dtype)
    return (weights * emd_per_token(targets, block)).sum()


def emd_term(targets: MetricTargets, block: torch.Tensor, lse: torch.Tensor, ce_sum: torch.Tensor, args: EMDArgs) -> TermResult:
    emd = weighted_emd(targets, block, args.sigma, args.max_place_exponent)
    return TermResult(args.lam * emd, {"emd": emd})


EMD = register_loss("emd", EMDArgs, emd_term, "CE + lam * token-level EMD over metric tokens")
