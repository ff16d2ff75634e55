"""NTIL (ACL 2025): place-weighted token EMD + relative and magnitude deviation of whole numbers.

    NTIL = sum_t w_t EMD_t + alpha * sum_n L_rel(n) + beta * sum_n L_mag(n),   loss = CE + lam * NTIL
    w_t  = (1 + sigma) ** (digits right of token t's leading digit, within its number)
    L_rel = |X - Y| / (max(|X|, |Y|) + eps_n),   L_mag = |log((|X| + eps_n) / (|Y| + eps_n))|

X is the number rebuilt from the model's own digits at the true number's positions, chosen with
straight-through Gumbel-softmax as in the paper and its official code: temperature 0.1 and Gumbel
noise scaled by ``gumbel_noise_scale`` = 0.01, so the forward value is (almost always) the argmax
digit and the gradient flows through the soft one. ``gumbel_noise_scale: 0`` (or ``gumbel: false``)
is the noiseless argmax straight-through; 1 samples X from the model (full-scale noise).

Defaults that differ from the official code, each reachable by an argument (``preset: official``
sets all of them to the official values at once, see :data:`NTILArgs.PRESETS`):

* ``reduction: token`` — every term is a *sum* over tokens / numbers, divided with CE by the
  number of supervised tokens (``num_items_in_batch``), so micro-batches and ranks add up to the
  big-batch loss. The official code takes per-sequence means (EMD over digit tokens, rel/mag over
  numbers) and then a batch mean (``reduction: sequence``). Under ``token``, ``lam`` weighs each
  numeric token against one CE token; under ``sequence`` it weighs a sequence's mean NTIL against
  the mean CE, which is a larger effective weight by about (supervised tokens / digit tokens).
* ``eps_scale: lowest_place`` — eps is measured in units of the number's lowest decimal place, so
  0.034 vs 0.041 counts like 34 vs 41 (with eps = 1 absolute, numbers below 1 get almost no
  sequence-level signal). Integers are unchanged. ``eps_scale: absolute`` is the official form.
* decimals are one number ("3.015"); X and Y are rebuilt in float64 relative to the number's
  leading place, so a 60-digit run stays finite and 123456789 vs 123456788 is still seen.
* the official detached CE/NTIL ratio (``official_ratio_scaling``), which pins the reported loss to
  (1 + lam) * CE and blows up gradients as NTIL -> 0, is off unless asked for (the preset sets it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .emd import weighted_emd_per_token
from .reduction import REDUCTIONS, combine_with_ce, per_number_to_total, per_token_to_total, reported
from .registry import TermResult, check_choice, check_positive, register_loss
from .targets import MetricTargets

EPS_FLOOR = 1e-300  # eps / 10**top underflows only for numbers past ~300 digits; keep logs finite
EPS_SCALES = ("lowest_place", "absolute")


@dataclass
class NTILArgs:
    lam: float = 0.3  # weight of NTIL added to CE
    alpha: float = 0.2  # weight of the relative deviation
    beta: float = 0.2  # weight of the magnitude deviation
    sigma: float = 0.2  # place-value weight base (1 + sigma)
    gumbel_tau: float = 0.1  # straight-through Gumbel-softmax temperature
    gumbel_noise_scale: float = 0.01  # Gumbel noise multiplier (paper/official: 0.01; 0 = argmax)
    gumbel: bool = True  # False: no noise at all, whatever gumbel_noise_scale says
    eps: float = 1.0
    eps_scale: str = "lowest_place"  # "lowest_place" (eps in units of the number's last digit) | "absolute"
    reduction: str = "token"  # "token" (sums / supervised tokens) | "sequence" (official per-sequence means)
    official_ratio_scaling: bool = False  # compatibility with the official code only; see module doc
    max_place_exponent: int = 64
    preset: str | None = None  # "official": every default above set to the official code's values

    PRESETS: ClassVar[dict[str, dict]] = {
        "official": {
            "lam": 0.3, "alpha": 0.2, "beta": 0.2, "sigma": 0.2, "gumbel_tau": 0.1, "gumbel_noise_scale": 0.01,
            "gumbel": True, "eps": 1.0, "eps_scale": "absolute", "reduction": "sequence", "official_ratio_scaling": True,
        },
    }

    def __post_init__(self) -> None:
        for name in ("lam", "alpha", "beta", "sigma", "gumbel_noise_scale", "max_place_exponent"):
            check_positive(name, getattr(self, name))
        check_positive("gumbel_tau", self.gumbel_tau, allow_zero=False)
        check_positive("eps", self.eps, allow_zero=False)
        check_choice("eps_scale", self.eps_scale, EPS_SCALES)
        check_choice("reduction", self.reduction, REDUCTIONS)
        for name in ("gumbel", "official_ratio_scaling"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false; got {getattr(self, name)!r}")

    @property
    def noise_scale(self) -> float:
        return self.gumbel_noise_scale if self.gumbel else 0.0


def sample_gumbel(shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel noise (uses the global torch RNG, so ``torch.manual_seed`` reproduces it)."""
    uniform = torch.rand(shape, dtype=like.dtype, device=like.device)
    tiny = torch.finfo(like.dtype).tiny
    # -log(u) is positive; clamp it (not log(u)) away from 0 so the outer log stays finite.
    return -torch.log((-torch.log(uniform.clamp_min(tiny))).clamp_min(tiny))


def straight_through_values(targets: MetricTargets, block: torch.Tensor, tau: float, noise: torch.Tensor | None) -> torch.Tensor:
    """[K] float64 value of the model's chosen token: hard in the forward pass, soft in the backward.

    Written as ``hard + (soft - soft.detach())`` so the forward value is bit-exactly the chosen
    token's value: a fully correct number then rebuilds to exactly the true number and the
    non-differentiable kinks of |X - Y| are hit at 0 (gradient 0), not at a rounding error away.
    """
    scores = block if noise is None else block + noise
    soft_value = (torch.softmax(scores / tau, dim=-1).double() * targets.values).sum(-1)
    hard_value = targets.values.gather(1, scores.argmax(-1, keepdim=True)).squeeze(1)
    return hard_value + (soft_value - soft_value.detach())


def rebuilt_numbers(targets: MetricTargets, token_values: torch.Tensor) -> torch.Tensor:
    """[N] float64 per-number value scaled by 10**-top (top = place of the leading digit)."""
    spans = targets.spans
    top = spans.number_top[targets.number_id]
    contrib = torch.where(
        targets.positional, token_values.double() * torch.pow(10.0, (targets.place - top).double()), torch.zeros_like(token_values, dtype=torch.float64)
    )
    out = torch.zeros(spans.number_top.shape[0], dtype=torch.float64, device=token_values.device)
    return out.index_add(0, targets.number_id, contrib)


def number_deviations(
    targets: MetricTargets, predicted: torch.Tensor, eps: float, eps_scale: str = "lowest_place"
) -> tuple[torch.Tensor, torch.Tensor]:
    """[N] float64 L_rel and L_mag of every number (0 where no number), on values scaled by 10**-top."""
    spans = targets.spans
    # The truth is rebuilt by the same arithmetic as the prediction, so equal digits give equal sums.
    truth = rebuilt_numbers(targets, targets.target_value)
    eps_place = spans.number_low if eps_scale == "lowest_place" else torch.zeros_like(spans.number_top)
    eps_scaled = (eps * torch.pow(10.0, (eps_place - spans.number_top).double())).clamp_min(EPS_FLOOR)
    # Both are sums of non-negative digit values, so |X| = X: no abs() on them, whose zero
    # subgradient at X = 0 would stop the pull away from an all-zero guess.
    rel = (predicted - truth).abs() / (torch.maximum(predicted, truth) + eps_scaled)
    mag = (torch.log(predicted + eps_scaled) - torch.log(truth + eps_scaled)).abs()
    exists = targets.number_in_scope
    return torch.where(exists, rel, torch.zeros_like(rel)), torch.where(exists, mag, torch.zeros_like(mag))


def ntil_term(targets: MetricTargets, block: torch.Tensor, lse: torch.Tensor, ce_sum: torch.Tensor, args: NTILArgs) -> TermResult:
    emd = per_token_to_total(targets, weighted_emd_per_token(targets, block, args.sigma, args.max_place_exponent), args.reduction)
    noise = sample_gumbel(block.shape, block) * args.noise_scale if args.noise_scale > 0 else None
    chosen = straight_through_values(targets, block, args.gumbel_tau, noise)
    rel_n, mag_n = number_deviations(targets, rebuilt_numbers(targets, chosen), args.eps, args.eps_scale)
    rel = per_number_to_total(targets, rel_n, args.reduction).to(block.dtype)
    mag = per_number_to_total(targets, mag_n, args.reduction).to(block.dtype)
    ntil = emd + args.alpha * rel + args.beta * mag
    total = combine_with_ce(targets, ntil, ce_sum, args.lam, args.reduction, args.official_ratio_scaling)
    parts = {"emd": emd, "rel": rel, "mag": mag, "ntil": ntil}
    return TermResult(total, {name: reported(targets, value, args.reduction) for name, value in parts.items()})


NTIL = register_loss("ntil", NTILArgs, ntil_term, "CE + lam * (place-weighted EMD + alpha*rel + beta*mag) (NTIL)")
