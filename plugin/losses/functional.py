"""Plain-function API: ``metric_token_loss`` and one named function per loss.

>>> from metricsft.losses.functional import ntil_loss
>>> out = ntil_loss(logits, labels, vocab)               # doctest: +SKIP
>>> out.loss.backward(); out.components["rel"]           # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from ..spans import IGNORE_INDEX
from ..vocab import MetricVocab
from .fused import TARGETS_RANGE, TermFn, cross_entropy_with_metric_term
from .registry import LossSpec, get_loss
from .targets import MetricTargets, gather_metric_targets


@dataclass
class LossOutput:
    """The scalar to backpropagate and its detached parts (0-d tensors; no host sync)."""

    loss: torch.Tensor
    components: dict[str, torch.Tensor]


def shift_for_next_token(labels: torch.Tensor, position_ids: torch.Tensor | None = None):
    """Align labels (and position ids) with the logits that predict them, as HF causal LMs do.

    The label of position t is the token at t+1; the last position gets -100.
    """
    shifted = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)
    if position_ids is None:
        return shifted, None
    # A label starts a packed sequence when the token it names has position id 0.
    return shifted, torch.nn.functional.pad(position_ids[:, 1:], (0, 1), value=1)


def _normaliser(labels: torch.Tensor, num_items_in_batch: Any) -> torch.Tensor:
    if num_items_in_batch is None:
        return (labels != IGNORE_INDEX).sum().clamp_min(1)
    return torch.as_tensor(num_items_in_batch, device=labels.device)


def metric_token_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    vocab: MetricVocab,
    loss: str | LossSpec = "ntil",
    args: Mapping[str, Any] | Any | None = None,
    *,
    num_items_in_batch: int | torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    shift: bool = True,
) -> LossOutput:
    """CE + the named metric term, summed over tokens and divided by ``num_items_in_batch``.

    ``logits`` [B, T, V] (V may exceed the tokenizer: padded vocabularies), ``labels`` [B, T]
    (unshifted when ``shift`` — the Hugging Face convention). Without ``num_items_in_batch`` the
    loss is a mean over supervised tokens; with it, micro-batches add up to the big-batch loss.
    """
    spec = loss if isinstance(loss, LossSpec) else get_loss(loss)
    parsed = spec.parse_args(args)
    if logits.ndim != 3 or logits.shape[:2] != labels.shape:
        raise ValueError(
            f"logits must be [batch, length, vocab] matching labels [batch, length]; got {tuple(logits.shape)} "
            f"and {tuple(labels.shape)} (if the model kept only the last logits, compute the loss on all positions)"
        )

    def fused(flat_labels: torch.Tensor, normaliser: torch.Tensor, targets: MetricTargets, term_fn: TermFn):
        return cross_entropy_with_metric_term(logits.reshape(-1, logits.shape[-1]), flat_labels, normaliser, targets, term_fn)

    return metric_loss_over_labels(
        fused, labels, vocab, spec, parsed, num_items_in_batch=num_items_in_batch, position_ids=position_ids, shift=shift
    )


def metric_loss_over_labels(
    fused_loss: Callable[[torch.Tensor, torch.Tensor, MetricTargets, TermFn], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    labels: torch.Tensor,
    vocab: MetricVocab,
    loss: str | LossSpec = "ntil",
    args: Mapping[str, Any] | Any | None = None,
    *,
    num_items_in_batch: int | torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    shift: bool = True,
) -> LossOutput:
    """Everything of :func:`metric_token_loss` but the logits: shift, metric targets, term, components.

    ``fused_loss(flat_labels, normaliser, targets, term_fn) -> (loss, ce, term)`` computes CE and
    the term from wherever the logits come from: full logits (``cross_entropy_with_metric_term``)
    or hidden states and the head weight (``fused_head.head_cross_entropy_with_metric_term``).
    """
    spec = loss if isinstance(loss, LossSpec) else get_loss(loss)
    parsed = spec.parse_args(args)
    if shift:
        labels, position_ids = shift_for_next_token(labels, position_ids)
    with torch.profiler.record_function(TARGETS_RANGE):
        targets = gather_metric_targets(labels, vocab, position_ids)
    components: dict[str, torch.Tensor] = {}

    def term_fn(block: torch.Tensor, lse: torch.Tensor, ce_sum: torch.Tensor) -> torch.Tensor:
        if spec.term is None:
            return block.new_zeros(())
        result = spec.term(targets, block, lse, ce_sum, parsed)
        components.update({name: value.detach() for name, value in result.components.items()})
        return result.total

    flat_labels = labels.reshape(-1)
    normaliser = _normaliser(flat_labels, num_items_in_batch)
    targets.normaliser = normaliser
    total, ce, extra = fused_loss(flat_labels, normaliser, targets, term_fn)
    out = {"ce": ce, "metric_term": extra}
    out.update({name: value / normaliser for name, value in components.items()})
    out["metric_tokens"] = torch.full((), float(targets.count), device=labels.device)  # a fill, not a host copy
    out["numbers"] = targets.number_in_scope.sum().to(torch.float32)
    return LossOutput(total, out)


def _named(name: str):
    def fn(logits, labels, vocab, *, num_items_in_batch=None, position_ids=None, shift=True, **args):
        return metric_token_loss(
            logits, labels, vocab, name, args, num_items_in_batch=num_items_in_batch, position_ids=position_ids, shift=shift
        )

    fn.__name__ = f"{name}_loss"
    fn.__doc__ = f"``metric_token_loss(..., loss={name!r}, args=kwargs)``; see :func:`metric_token_loss`."
    return fn


ce_loss = _named("ce")
emd_loss = _named("emd")
ntil_loss = _named("ntil")
dist2_loss = _named("dist2")
ntl_mse_loss = _named("ntl_mse")
ntl_was_loss = _named("ntl_was")

__all__ = [
    "LossOutput",
    "MetricTargets",
    "metric_token_loss",
    "shift_for_next_token",
    "ce_loss",
    "emd_loss",
    "ntil_loss",
    "dist2_loss",
    "ntl_mse_loss",
    "ntl_was_loss",
]
