"""Where the numbers are in a label sequence — vectorised, no Python loop over tokens, no sync.

Rules (each one is a test):

* a number is a run of positional (digit) tokens; it ends at ``-100``, at any non-digit token, at a
  space-prefixed digit token ("12 7" is two numbers), at a row end and at a packed-sequence
  boundary (``position_ids`` restarting at 0);
* a ``.`` between two digit runs joins them into one decimal ("3.015" is one number and place value
  continues across the point) — unless it is part of a dotted chain like "1.2.3" (versions, IP
  addresses), whose parts stay separate integers;
* a ``-`` right before a number makes it negative unless a digit precedes the ``-`` ("2-55" is a
  range or a time, not 2 and -55);
* leading zeros count as digits ("007" has three places).

Place values are powers of ten of a token's *last* digit: in "3.015" written as 3 . 0 1 5 the places
are 0, -1, -2, -3; Llama-3 writes "12345" as "123" "45" with places 2 and 0.

>>> spans = number_spans(labels, vocab)                                 # doctest: +SKIP
>>> spans.number_id[0, :6]                                              # doctest: +SKIP
tensor([-1,  0,  0,  0,  0, -1])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # annotations only: vocab imports scope, which imports IGNORE_INDEX from here
    from .vocab import MetricVocab

IGNORE_INDEX = -100


@dataclass
class NumberSpans:
    """Per-position and per-number facts, flattened over the batch (length N = B*T).

    Per-number tensors are indexed by ``number_id`` and have length N too (an upper bound on the
    number count that needs no device sync); entries past the last number are zero.
    """

    positional: torch.Tensor  # [N] bool: the label is a digit token inside a number
    number_id: torch.Tensor  # [N] int64, -1 outside numbers
    place: torch.Tensor  # [N] int64, power of ten of the token's last digit
    width: torch.Tensor  # [N] int64, digits in the token (0 outside numbers)
    digits_right: torch.Tensor  # [N] int64, digits of the number right of this token's leading digit
    number_top: torch.Tensor  # [N] int64 per number: place of its leading digit
    number_low: torch.Tensor  # [N] int64 per number: place of its last digit (-3 for 3.015)
    number_digits: torch.Tensor  # [N] int64 per number: digit count
    number_sign: torch.Tensor  # [N] float64 per number: -1 or +1
    number_scaled: torch.Tensor  # [N] float64 per number: |value| / 10**number_top (in [0, 10))
    number_exists: torch.Tensor  # [N] bool per number

    @property
    def number_value(self) -> torch.Tensor:
        """Signed true value of each number (float64; inf beyond ~308 digits — reporting only)."""
        scale = torch.pow(10.0, self.number_top.double())
        return self.number_sign * self.number_scaled * scale


def _shift_right(x: torch.Tensor, fill) -> torch.Tensor:
    """x[t-1] at position t (flattened), ``fill`` at t=0."""
    return torch.cat([x.new_full((1,), fill), x[:-1]])


def _shift_left(x: torch.Tensor, fill) -> torch.Tensor:
    """x[t+1] at position t (flattened), ``fill`` at the end."""
    return torch.cat([x[1:], x.new_full((1,), fill)])


def _scatter(size: int, index: torch.Tensor, mask: torch.Tensor, values, fill) -> torch.Tensor:
    """out[index[mask]] = values[mask] without boolean indexing (which would sync with the device).

    Masked-out positions write into a spare slot past the end, which is dropped.
    """
    if not torch.is_tensor(values):
        dtype = torch.bool if isinstance(fill, bool) else torch.float64 if isinstance(fill, float) else torch.long
        values = torch.full_like(index, values, dtype=dtype)
    out = torch.full((size + 1,), fill, dtype=values.dtype, device=index.device)
    out.scatter_(0, torch.where(mask, index, torch.full_like(index, size)), values)
    return out[:size]


def sequence_starts(labels: torch.Tensor, position_ids: torch.Tensor | None = None) -> torch.Tensor:
    """[N] bool: positions that begin a row or a packed sequence (no number spans across them)."""
    b, t = labels.shape
    starts = torch.zeros(b, t, dtype=torch.bool, device=labels.device)
    starts[:, 0].fill_(True)  # fill_, not "= True": setting from a Python value goes through a host tensor
    if position_ids is not None:
        if position_ids.shape != labels.shape:
            raise ValueError(
                f"position_ids shape {tuple(position_ids.shape)} does not match labels shape {tuple(labels.shape)}"
            )
        starts |= position_ids == 0
    return starts.reshape(-1)


def number_spans(labels: torch.Tensor, vocab: MetricVocab, position_ids: torch.Tensor | None = None) -> NumberSpans:
    """Find every number in ``labels`` ([B, T], already shifted; -100 = not supervised)."""
    if labels.ndim != 2:
        raise ValueError(f"labels must be [batch, length]; got shape {tuple(labels.shape)}")
    tables = vocab.tables(labels.device)
    flat = labels.reshape(-1)
    n = flat.numel()
    in_vocab = (flat >= 0) & (flat < vocab.vocab_size)
    safe = torch.where(in_vocab, flat, torch.zeros_like(flat))
    width = torch.where(in_vocab, tables.width_of[safe], torch.zeros_like(flat))
    digit = width > 0
    prefixed = in_vocab & tables.prefixed[safe]
    dot = in_vocab & tables.is_dot[safe]
    minus = in_vocab & tables.is_minus[safe]
    start = sequence_starts(labels, position_ids)

    # --- runs of digit tokens -------------------------------------------------------------------
    continues = digit & _shift_right(digit, False) & ~prefixed & ~start
    run_start = digit & ~continues
    run_id = torch.cumsum(run_start.long(), 0) - 1  # valid where digit
    run_idx = torch.where(digit, run_id, torch.zeros_like(run_id))
    run_end = digit & ~_shift_left(continues, False)

    # --- decimal points: join "A . B" unless part of a chain "A . B . C" ---------------------------
    cand = dot & _shift_right(digit, False) & _shift_left(digit & ~prefixed & ~start, False) & ~start
    left_cand_of_run = _scatter(n, run_idx, run_start, _shift_right(cand, False), False)
    right_cand_of_run = _scatter(n, run_idx, run_end, _shift_left(cand, False), False)
    left_run = _shift_right(run_idx, 0)  # run ending just before a dot
    right_run = _shift_left(run_idx, 0)  # run starting just after it
    joins = cand & ~left_cand_of_run[left_run] & ~right_cand_of_run[right_run]
    joined_left = _scatter(n, right_run, joins, True, False)  # the run is a fraction part

    # --- numbers: a run that is not a fraction part starts a number ---------------------------------
    run_exists = _scatter(n, run_idx, run_start, True, False)
    number_of_run = torch.cumsum((run_exists & ~joined_left).long(), 0) - 1
    number_id = torch.where(digit, number_of_run[run_idx], torch.full_like(flat, -1))
    num_idx = torch.where(digit, number_id, torch.zeros_like(number_id))

    # --- place values -----------------------------------------------------------------------------
    cum_width = torch.cumsum(width, 0)
    run_base = _scatter(n, run_idx, run_start, cum_width - width, 0)
    inclusive = cum_width - run_base[run_idx]  # digits of the run up to and including this token
    run_total = torch.zeros(n, dtype=torch.long, device=flat.device).index_add_(0, run_idx, width)
    fraction = joined_left[run_idx]
    place = torch.where(fraction, -inclusive, run_total[run_idx] - inclusive)
    place = torch.where(digit, place, torch.zeros_like(place))
    lead = place + width - 1

    big = torch.iinfo(torch.long).max
    number_min = torch.full((n,), big, dtype=torch.long, device=flat.device)
    number_min.scatter_reduce_(0, num_idx, torch.where(digit, place, torch.full_like(place, big)), "amin")
    number_top = torch.full((n,), -big, dtype=torch.long, device=flat.device)
    number_top.scatter_reduce_(0, num_idx, torch.where(digit, lead, torch.full_like(lead, -big)), "amax")
    number_exists = _scatter(n, num_idx, digit, True, False)
    number_min = torch.where(number_exists, number_min, torch.zeros_like(number_min))
    number_top = torch.where(number_exists, number_top, torch.zeros_like(number_top))
    digits_right = torch.where(digit, lead - number_min[num_idx], torch.zeros_like(lead))
    number_digits = torch.zeros(n, dtype=torch.long, device=flat.device).index_add_(0, num_idx, width)

    # --- true value, scaled by the leading place so that 60-digit numbers stay finite ---------------
    values = torch.where(digit, tables.value_of[safe], torch.zeros_like(tables.value_of[safe]))
    rel_place = (place - number_top[num_idx]).double()
    contrib = values * torch.pow(10.0, rel_place)  # a scalar base: no host-to-device copy (a stall on GPU)
    number_scaled = torch.zeros(n, dtype=torch.float64, device=flat.device).index_add_(
        0, num_idx, torch.where(digit, contrib, torch.zeros_like(contrib))
    )

    # --- sign: "-" right before the number's first token, not preceded by a digit -------------------
    number_first = run_start & ~joined_left[run_idx]
    minus_before = _shift_right(minus, False) & ~start
    digit_before_minus = _shift_right(_shift_right(digit, False) & ~start, False) & ~start
    negative = number_first & minus_before & ~digit_before_minus
    number_sign = _scatter(n, num_idx, negative, -1.0, 1.0)

    return NumberSpans(
        positional=digit,
        number_id=number_id,
        place=place,
        width=width,
        digits_right=digits_right,
        number_top=number_top,
        number_low=number_min,
        number_digits=number_digits,
        number_sign=number_sign,
        number_scaled=number_scaled,
        number_exists=number_exists,
    )
