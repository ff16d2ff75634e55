"""Slow, obviously-correct reference implementations (Python loops, float64, full vocabularies).

Written independently of metricsft's vectorised code: numbers are found by walking token strings,
every distribution is a full log-softmax, every sum is a loop. The tests compare both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import torch

PREFIXES = ("▁", "Ġ", " ")


def split_prefix(token: str) -> tuple[str, str]:
    for prefix in PREFIXES:
        if token.startswith(prefix) and len(token) > len(prefix):
            return prefix, token[len(prefix):]
    return "", token


def is_digit_token(token: str | None) -> bool:
    if token is None:
        return False
    body = split_prefix(token)[1]
    return body.isascii() and body.isdigit()


@dataclass
class RefNumber:
    positions: list[int]
    places: list[int]  # power of ten of each token's last digit
    widths: list[int]
    text: str
    negative: bool = False
    digits_right: list[int] = field(default_factory=list)

    @property
    def value(self) -> Decimal:
        return Decimal(("-" if self.negative else "") + self.text)


def ref_numbers(tokens: list[str | None], starts: list[bool]) -> list[RefNumber]:
    """Numbers in a token sequence (None = unsupervised), by the rules of metricsft.spans."""
    runs: list[list[int]] = []
    for i, tok in enumerate(tokens):
        if not is_digit_token(tok):
            continue
        prefixed = split_prefix(tok)[0] != ""
        if runs and runs[-1][-1] == i - 1 and not starts[i] and not prefixed:
            runs[-1].append(i)
        else:
            runs.append([i])
    run_starting = {r[0]: k for k, r in enumerate(runs)}
    run_ending = {r[-1]: k for k, r in enumerate(runs)}
    candidates = set()
    for i in range(1, len(tokens) - 1):
        if tokens[i] == "." and not starts[i] and not starts[i + 1] and (i - 1) in run_ending and (i + 1) in run_starting:
            if split_prefix(tokens[i + 1])[0] == "":
                candidates.add(i)
    joins = set()
    for i in candidates:
        left, right = runs[run_ending[i - 1]], runs[run_starting[i + 1]]
        if (left[0] - 1) in candidates or (right[-1] + 1) in candidates:
            continue  # dotted chain such as a version number: no decimals
        joins.add(i)
    numbers = []
    k = 0
    while k < len(runs):
        integer = runs[k]
        fraction = runs[k + 1] if (integer[-1] + 1) in joins else []
        k += 2 if fraction else 1
        bodies = {p: split_prefix(tokens[p])[1] for p in integer + fraction}
        int_digits = sum(len(bodies[p]) for p in integer)
        places, seen = [], 0
        for p in integer:
            seen += len(bodies[p])
            places.append(int_digits - seen)
        seen = 0
        for p in fraction:
            seen += len(bodies[p])
            places.append(-seen)
        text = "".join(bodies[p] for p in integer) + ("." + "".join(bodies[p] for p in fraction) if fraction else "")
        first = integer[0]
        negative = (
            first >= 1 and not starts[first] and tokens[first - 1] is not None
            and split_prefix(tokens[first - 1])[1] == "-"
            and not (first >= 2 and not starts[first - 1] and is_digit_token(tokens[first - 2]))
        )
        widths = [len(bodies[p]) for p in integer + fraction]
        lowest = min(places)
        number = RefNumber(integer + fraction, places, widths, text, negative)
        number.digits_right = [pl + w - 1 - lowest for pl, w in zip(places, widths)]
        numbers.append(number)
    return numbers


def ref_groups(tokenizer, metrics=("digits",)) -> dict[int, tuple[tuple, float, float]]:
    """token id -> (group key, value, unit) by scanning token strings."""
    out: dict[int, tuple[tuple, float, float]] = {}
    vocab = tokenizer.get_vocab()
    for tok, idx in vocab.items():
        if "digits" in metrics and is_digit_token(tok):
            prefix, body = split_prefix(tok)
            out[idx] = (("digits", prefix, len(body)), float(int(body)), float(10 ** (len(body) - 1)))
        if "loc" in metrics and tok.startswith("<loc") and tok.endswith(">") and len(tok) == 9 and tok[4:8].isdigit():
            out[idx] = (("loc",), float(int(tok[4:8])), 1023 / 9)
    return out


def shifted(labels: torch.Tensor, position_ids: torch.Tensor | None):
    lab = torch.full_like(labels, -100)
    lab[:, :-1] = labels[:, 1:]
    starts = torch.zeros_like(labels, dtype=torch.bool)
    starts[:, 0] = True
    if position_ids is not None:
        starts[:, :-1] |= position_ids[:, 1:] == 0
    return lab, starts


DEFAULTS = {
    "ce": {},
    "emd": {"lam": 0.3, "sigma": 0.0},
    "ntl_was": {"lam": 0.3},
    "ntl_mse": {"lam": 0.3},
    "ntil": {"lam": 0.3, "alpha": 0.2, "beta": 0.2, "sigma": 0.2, "gumbel_tau": 0.1, "eps": 1.0, "eps_scale": "lowest_place"},
    "dist2": {"alpha": 0.1, "tau": 1.0, "distance": "squared", "normalize": "full", "sigma": 0.0},
}


def ref_loss(logits, labels, tokenizer, loss, args=None, num_items_in_batch=None, position_ids=None, metrics=("digits",)):
    """Reference loss (differentiable w.r.t. ``logits``); NTIL uses the noiseless straight-through."""
    a = dict(DEFAULTS[loss], **(args or {}))
    a.pop("gumbel", None)
    a.pop("gumbel_noise_scale", None)  # the reference is the noiseless straight-through
    groups = ref_groups(tokenizer, metrics)
    members: dict[tuple, list[int]] = {}
    for idx, (key, _, _) in sorted(groups.items(), key=lambda kv: (kv[1][1], kv[0])):
        members.setdefault(key, []).append(idx)
    lab, starts = shifted(labels, position_ids)
    total = (logits.double() * 0).sum()  # keeps a grad_fn when every label is masked
    count = 0
    # unbind (not logits[b, t]): each indexing op would backpropagate a full [B, T, V] zero tensor
    rows = [row.unbind(0) for row in logits.double().unbind(0)]
    for b in range(lab.shape[0]):
        ids = lab[b].tolist()
        tokens = [None if i == -100 else tokenizer.convert_ids_to_tokens(i) for i in ids]
        numbers = ref_numbers(tokens, starts[b].tolist())
        info = {}
        for number in numbers:
            for p, dr in zip(number.positions, number.digits_right):
                info[p] = dr
        chosen: dict[int, torch.Tensor] = {}
        for t, y in enumerate(ids):
            if y == -100:
                continue
            count += 1
            z = rows[b][t]
            total = total - torch.log_softmax(z, -1)[y]
            if y not in groups or loss == "ce":
                continue
            key, yv, unit = groups[y]
            cand = members[key]
            vals = torch.tensor([groups[c][1] for c in cand], dtype=torch.float64)
            zc = z[cand]
            p = torch.softmax(zc, -1)
            weight_sigma = a.get("sigma", 0.0)
            w = (1 + weight_sigma) ** info[t] if t in info else 1.0
            if loss in ("emd", "ntil", "ntl_was"):
                emd = (p * (vals - yv).abs() / unit).sum()
                lam = a["lam"]
                total = total + lam * (w if loss != "ntl_was" else 1.0) * emd
            if loss == "ntl_mse":
                total = total + a["lam"] * ((p * vals / unit).sum() - yv / unit) ** 2
            if loss == "dist2":
                power = 2.0 if a["distance"] == "squared" else 1.0
                target = torch.softmax(-(vals - yv).abs() ** power / a["tau"], -1)
                logq = torch.log_softmax(z, -1)[cand] if a["normalize"] == "full" else torch.log_softmax(zc, -1)
                kl = sum(float(target[i]) * (math.log(float(target[i])) - logq[i]) for i in range(len(cand)) if target[i] > 0)
                total = total + a["alpha"] * w * kl
            if loss == "ntil":
                # straight-through: forward = the argmax token's value, backward = the soft mean
                soft_value = (torch.softmax(zc / a["gumbel_tau"], -1) * vals).sum()
                chosen[t] = vals[int(torch.argmax(zc))] + (soft_value - soft_value.detach())
        if loss == "ntil":
            for number in numbers:
                x = sum(chosen[p] * 10.0 ** pl for p, pl in zip(number.positions, number.places))
                # the true number rebuilt the same way, so a fully correct guess gives x == y exactly
                y_abs = sum(groups[ids[p]][1] * 10.0**pl for p, pl in zip(number.positions, number.places))
                assert y_abs == pytest.approx(abs(float(Decimal(number.text))), rel=1e-12)
                # x and y are magnitudes (sums of non-negative digits), so no abs() on them
                # eps in units of the number's lowest place (0.034 vs 0.041 like 34 vs 41), or absolute
                eps = a["eps"] * (10.0 ** min(number.places) if a["eps_scale"] == "lowest_place" else 1.0)
                rel = (x - y_abs).abs() / (torch.maximum(x, torch.tensor(y_abs, dtype=torch.float64)) + eps)
                mag = (torch.log(x + eps) - math.log(y_abs + eps)).abs()
                total = total + a["lam"] * (a["alpha"] * rel + a["beta"] * mag)
    denominator = num_items_in_batch if num_items_in_batch is not None else max(count, 1)
    return total / denominator
