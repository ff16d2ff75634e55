"""Token-level Earth Mover's Distance over a metric group.

For a one-hot target y the 1-D EMD between the predicted distribution p (renormalised over the
group) and the target is ``sum_i p_i |v_i - y|`` (equal to the L1 distance between the CDFs when the
values are ordered), measured in digit units (see ``MetricGroup.unit``). NTL-WAS (Zausinger et al.)
is the same quantity; it is registered under its own name in :mod:`metricsft.losses.ntl`.

``preset: official`` is the official NTIL code with its sequence-level terms switched off
(place weights 1.2, per-sequence means, detached CE/EMD ratio scaling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .reduction import REDUCTIONS, combine_with_ce, per_token_to_total, reported
from .registry import TermResult, check_choice, check_positive, register_loss
from .targets import MetricTargets


@dataclass
class EMDArgs:
    lam: float = 0.3  # weight of the term added to CE
    sigma: float = 0.0  # place-value weight (1 + sigma) ** (digits to the right); 0 = unweighted
    max_place_exponent: int = 64  # cap on that exponent (keeps 1000-digit runs finite)
    reduction: str = "token"  # "token" (sums / supervised tokens) | "sequence" (official per-sequence means)
    official_ratio_scaling: bool = False  # the official code's detached CE/term ratio (see metricsft.losses.ntil)
    preset: str | None = None  # "official"

    PRESETS: ClassVar[dict[str, dict]] = {
        "official": {"lam": 0.3, "sigma": 0.2, "reduction": "sequence", "official_ratio_scaling": True},
    }

    def __post_init__(self) -> None:
        check_positive("lam", self.lam)
        check_positive("sigma", self.sigma)
        check_positive("max_place_exponent", self.max_place_exponent)
        check_choice("reduction", self.reduction, REDUCTIONS)
        if not isinstance(self.official_ratio_scaling, bool):
            raise ValueError(f"official_ratio_scaling must be true or false; got {self.official_ratio_scaling!r}")


def emd_per_token(targets: MetricTargets, block: torch.Tensor) -> torch.Tensor:
    """[K] expected distance ``sum_i p_i |v_i - y|`` with p = softmax over the token's group."""
    p = torch.softmax(block, dim=-1)
    return (p * targets.unit_distance().to(block.dtype)).sum(-1)


def weighted_emd_per_token(targets: MetricTargets, block: torch.Tensor, sigma: float, max_exponent: int) -> torch.Tensor:
    """[K] place-weighted EMD of every metric token (the token-level part of NTIL)."""
    return targets.place_weights(sigma, max_exponent).to(block.dtype) * emd_per_token(targets, block)


def weighted_emd(targets: MetricTargets, block: torch.Tensor, sigma: float, max_exponent: int) -> torch.Tensor:
    """Sum over tokens of the place-weighted EMD."""
    return weighted_emd_per_token(targets, block, sigma, max_exponent).sum()


def emd_term(targets: MetricTargets, block: torch.Tensor, lse: torch.Tensor, ce_sum: torch.Tensor, args: EMDArgs) -> TermResult:
    emd = per_token_to_total(targets, weighted_emd_per_token(targets, block, args.sigma, args.max_place_exponent), args.reduction)
    total = combine_with_ce(targets, emd, ce_sum, args.lam, args.reduction, args.official_ratio_scaling)
    return TermResult(total, {"emd": reported(targets, emd, args.reduction)})


EMD = register_loss("emd", EMDArgs, emd_term, "CE + lam * token-level EMD over metric tokens")
