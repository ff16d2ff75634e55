"""Which numbers of a response the metric term sees (``metric_loss_args.scope``).

Cross-entropy always covers every supervised token; ``scope`` only narrows the *extra* term to
the numbers that carry the metric — the final answer of a chain of thought, the box after a
description — so that years, list indices and step numbers are left to plain CE.

* ``all`` (default): every metric token of every supervised response;
* ``last``: only the last number of each supervised span (a response; packed sequences and
  multi-turn rows have several). A standalone metric token (``<loc>``, a value-map or score
  token) counts as a number of its own;
* ``{after: TEXT}``: metric tokens after TEXT in the same response (e.g. ``after: "####"``);
* ``{inside: [OPEN, CLOSE]}``: metric tokens between OPEN and the next CLOSE
  (e.g. ``inside: ["<|box_start|>", "<|box_end|>"]``).

Markers are given as text and matched in the *label* tokens (the supervised response), as every
token sequence the tokenizer may write them with (alone, after a space, after a newline). They
are resolved to token ids once; the mask itself is a handful of vectorised ops on the device.

>>> scope = resolve_scope(tokenizer, {"after": "####"})                   # doctest: +SKIP
>>> scope.kind, len(scope.open_ids) >= 1                                 # doctest: +SKIP
('after', True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch

from .spans import IGNORE_INDEX

SCOPE_KINDS = ("all", "last", "after", "inside")
_MARKER_PREFIXES = ("", " ", "\n")


@dataclass(frozen=True)
class MetricScope:
    """A resolved scope: its kind and, for ``after``/``inside``, the marker token sequences."""

    kind: str = "all"
    open_ids: tuple[tuple[int, ...], ...] = ()  # ``after`` marker, or ``inside``'s opening marker
    close_ids: tuple[tuple[int, ...], ...] = ()  # ``inside``'s closing marker
    spec: Any = "all"  # as the user wrote it (for logs)


def _scope_error(spec: Any) -> ValueError:
    return ValueError(
        f"metric_loss_args.scope: {spec!r} is not a scope; use 'all', 'last', {{after: \"TEXT\"}} "
        "or {inside: [\"OPEN\", \"CLOSE\"]} (markers as text, e.g. after: \"####\")"
    )


def marker_token_sequences(tokenizer: Any, text: str) -> tuple[tuple[int, ...], ...]:
    """Every token sequence ``text`` may appear as: alone, after a space, after a newline.

    Leading tokens that spell only the prefix (whitespace) are dropped, so the sequences match the
    marker wherever it sits in a response.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"metric_loss_args.scope: a marker must be non-empty text; got {text!r}")
    found: set[tuple[int, ...]] = set()
    for prefix in _MARKER_PREFIXES:
        ids = list(tokenizer.encode(prefix + text, add_special_tokens=False))
        while ids and not tokenizer.decode(ids[:1]).strip():
            ids = ids[1:]
        if ids:
            found.add(tuple(ids))
    if not found:
        raise ValueError(f"metric_loss_args.scope: the tokenizer writes marker {text!r} as no tokens")
    return tuple(sorted(found))


def resolve_scope(tokenizer: Any, spec: str | Mapping[str, Any] | None) -> MetricScope:
    """Validate ``spec`` and turn its markers into token ids (once, at start-up)."""
    if spec is None or spec == "all":
        return MetricScope()
    if spec == "last":
        return MetricScope(kind="last", spec=spec)
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise _scope_error(spec)
    (kind, value), = spec.items()
    if kind == "after":
        return MetricScope(kind="after", open_ids=marker_token_sequences(tokenizer, value), spec=dict(spec))
    if kind == "inside":
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
            raise ValueError(f"metric_loss_args.scope.inside must be a list [OPEN, CLOSE] of two texts; got {value!r}")
        return MetricScope(
            kind="inside",
            open_ids=marker_token_sequences(tokenizer, value[0]),
            close_ids=marker_token_sequences(tokenizer, value[1]),
            spec={"inside": list(value)},
        )
    raise _scope_error(spec)


def _shift_right(x: torch.Tensor, k: int, fill) -> torch.Tensor:
    if k == 0:
        return x
    return torch.cat([x.new_full((k,), fill), x[:-k]])


def _marker_hits(flat: torch.Tensor, starts: torch.Tensor, sequences: tuple[tuple[int, ...], ...], at_end: bool) -> torch.Tensor:
    """[N] bool: positions where one of the marker sequences ends (``at_end``) or begins."""
    hits = torch.zeros_like(flat, dtype=torch.bool)
    for seq in sequences:
        k = len(seq)
        match = torch.ones_like(hits)
        for i, token in enumerate(seq):  # token i of the marker sits k-1-i positions before its end
            match &= _shift_right(flat, k - 1 - i, IGNORE_INDEX) == token
            if i > 0:  # no row or packed-sequence start inside the marker
                match &= ~_shift_right(starts, k - 1 - i, True)
        hits |= match if at_end else torch.cat([match[k - 1 :], match.new_zeros(k - 1)])
    return hits


def _running_max(x: torch.Tensor) -> torch.Tensor:
    return torch.cummax(x, dim=0).values


def scope_mask(
    labels: torch.Tensor, scope: MetricScope, starts: torch.Tensor, metric: torch.Tensor, number_id: torch.Tensor
) -> torch.Tensor:
    """[N] bool: which positions of the flattened, shifted ``labels`` the metric term may use.

    ``starts`` marks row and packed-sequence starts, ``metric`` the metric-token positions and
    ``number_id`` each position's number (-1 outside place-value numbers).
    """
    flat = labels.reshape(-1)
    if scope.kind == "all":
        return torch.ones_like(flat, dtype=torch.bool)
    n = flat.numel()
    index = torch.arange(n, device=flat.device)
    supervised = flat != IGNORE_INDEX
    segment_start = supervised & (starts | ~_shift_right(supervised, 1, False))
    span_start = _running_max(torch.where(segment_start, index, torch.zeros_like(index)))  # start of p's response
    if scope.kind == "last":
        # An item is a number (keyed by its first position) or a standalone metric token.
        in_number = number_id >= 0
        safe_id = torch.where(in_number, number_id, torch.zeros_like(number_id))
        first = torch.full((n,), n, dtype=torch.long, device=flat.device)
        first.scatter_reduce_(0, safe_id, torch.where(in_number, index, torch.full_like(index, n)), "amin")
        key = torch.where(in_number, first[safe_id], index)
        last = torch.full((n,), -1, dtype=torch.long, device=flat.device)
        last.scatter_reduce_(0, span_start, torch.where(metric, key, torch.full_like(key, -1)), "amax")
        return metric & (key == last[span_start])
    opened = _marker_hits(flat, starts, scope.open_ids, at_end=True)
    last_open = _shift_right(_running_max(torch.where(opened, index, torch.full_like(index, -1))), 1, -1)
    after_open = last_open >= span_start
    if scope.kind == "after":
        return supervised & after_open
    closed = _marker_hits(flat, starts, scope.close_ids, at_end=False)
    last_close = _running_max(torch.where(closed, index, torch.full_like(index, -1)))
    return supervised & after_open & (last_open > last_close)
