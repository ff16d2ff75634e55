"""NTIL (ACL 2025): place-weighted token EMD + relative and magnitude deviation of whole numbers.

    NTIL = sum_t w_t EMD_t + alpha * sum_n L_rel(n) + beta * sum_n L_mag(n),   loss = CE + lam * NTIL
    w_t  = (1 + sigma) ** (digits right of token t's leading digit, within its number)
    L_rel = |X - Y| / (max(|X|, |Y|) + eps),   L_mag = |log((|X| + eps) / (|Y| + eps))|

X is the number rebuilt from the model's own digits at the true number's positions, sampled with
straight-through Gumbel-softmax (temperature 0.1): the forward value uses the hard digit, the
gradient flows through the soft one. eps = 1 as in the official code (it also keeps 0.004 vs 0
from dominating).

Differences from the official code, on purpose: decimals are one number; X and Y are computed
relative to the number's leading place (a 60-digit run stays finite and exact up to eps); the
official detached CE/NTIL ratio scaling (which pins the reported loss to (1 + lam) * CE and blows
up gradients as NTIL -> 0) exists only as ``official_ratio_scaling: true``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .emd import weighted_emd
from .registry import TermResult, check_positive, register_loss
from .targets import MetricTargets

EPS_FLOOR = 1e-30  # eps / 10**top underflows for numbers past ~30 digits; keep logs finite


@dataclass
class NTILArgs:
    lam: float = 0.3  # weight of NTIL added to CE
    alpha: float = 0.2  # weight of the relative deviation
    beta: float = 0.2  # weight of the magnitude deviation
    sigma: float = 0.2  # place-value weight base (1 + sigma)
    gumbel_tau: float = 0.1  # straight-through Gumbel-softmax temperature
    gumbel: bool = True  # False: noiseless argmax straight-through (deterministic; for exact comparisons)
    eps: float = 1.0
    official_ratio_scaling: bool = False  # compatibility with the official code only; see module doc
    max_place_exponent: int = 64

    def __post_init__(self) -> None:
        for name in ("lam", "alpha", "beta", "sigma", "max_place_exponent"):
            check_positive(name, getattr(self, name))
        check_positive("gumbel_tau", self.gumbel_tau, allow_zero=False)
        check_positive("eps", self.eps, allow_zero=False)
        for name in ("gumbel", "official_ratio_scaling"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false; got {getattr(self, name)!r}")


def sample_gumbel(shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel noise (uses the global torch RNG, so ``torch.manual_seed`` reproduces it)."""
    uniform = torch.rand(shape, dtype=like.dtype, device=like.device)
    tiny = torch.finfo(like.dtype).tiny
    # -log(u) is positive; clamp it (not log(u)) away from 0 so the outer log stays finite.
    return -torch.log((-torch.log(uniform.clamp_min(tiny))).clamp_min(tiny))


def straight_through_values(targets: MetricTargets, block: torch.Tensor, tau: float, noise: torch.Tensor | None) -> torch.Tensor:
    """[K] the value of the model's chosen token: hard in the forward pass, soft in the backward.

    Written as ``hard + (soft - soft.detach())`` so the forward value is bit-exactly the chosen
    token's value: a fully correct number then rebuilds to exactly the true number and the
    non-differentiable kinks of |X - Y| are hit at 0 (gradient 0), not at a rounding error away.
    """
    scores = block if noise is None else block + noise
    values = targets.values.to(block.dtype)
    soft_value = (torch.softmax(scores / tau, dim=-1) * values).sum(-1)
    hard_value = values.gather(1, scores.argmax(-1, keepdim=True)).squeeze(1)
    return hard_value + (soft_value - soft_value.detach())


def rebuilt_numbers(targets: MetricTargets, token_values: torch.Tensor) -> torch.Tensor:
    """[N] per-number value scaled by 10**-top (top = place of the leading digit)."""
    spans = targets.spans
    top = spans.number_top[targets.number_id]
    scale = torch.pow(torch.tensor(10.0, dtype=torch.float64, device=token_values.device), (targets.place - top).double())
    contrib = torch.where(targets.positional, token_values * scale.to(token_values.dtype), torch.zeros_like(token_values))
    out = torch.zeros(spans.number_top.shape[0], dtype=token_values.dtype, device=token_values.device)
    return out.index_add(0, targets.number_id, contrib)


def number_deviations(targets: MetricTargets, predicted: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums over numbers of L_rel and L_mag, computed on values scaled by their leading place."""
    spans = targets.spans
    # The truth is rebuilt by the same arithmetic as the prediction, so equal digits give equal sums.
    truth = rebuilt_numbers(targets, targets.target_value.to(predicted.dtype))
    ten = torch.tensor(10.0, dtype=torch.float64, device=predicted.device)
    eps_scaled = (eps * torch.pow(ten, -spans.number_top.double())).clamp_min(EPS_FLOOR).to(predicted.dtype)
    # Both are sums of non-negative digit values, so |X| = X: no abs() on them, whose zero
    # subgradient at X = 0 would stop the pull away from an all-zero guess.
    rel = (predicted - truth).abs() / (torch.maximum(predicted, truth) + eps_scaled)
    mag = (torch.log(predicted + eps_scaled) - torch.log(truth + eps_scaled)).abs()
    zero = torch.zeros_like(rel)
    exists = spans.number_exists
    return torch.where(exists, rel, zero).sum(), torch.where(exists, mag, zero).sum()


def ntil_term(targets: MetricTargets, block: torch.Tensor, lse: torch.Tensor, ce_sum: torch.Tensor, args: NTILArgs) -> TermResult:
    emd = weighted_emd(targets, block, args.sigma, args.max_place_exponent)
    noise = sample_gumbel(block.shape, block) if args.gumbel else None
    chosen = straight_through_values(targets, block, args.gumbel_tau, noise)
    rel, mag = number_deviations(targets, rebuilt_numbers(targets, chosen), args.eps)
    ntil = emd + args.alpha * rel + args.beta * mag
    total = args.lam * ntil
    if args.official_ratio_scaling:
        total = total * (ce_sum / ntil.detach().clamp_min(1e-12))
    return TermResult(total, {"emd": emd, "rel": rel, "mag": mag, "ntil": ntil})


NTIL = register_loss("ntil", NTILArgs, ntil_term, "CE + lam * (place-weighted EMD + alpha*rel + beta*mag) (NTIL)")
