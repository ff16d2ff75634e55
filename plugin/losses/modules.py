"""Thin ``nn.Module`` wrappers around :func:`metric_token_loss`.

>>> criterion = NTILLoss(vocab, lam=0.3)                                  # doctest: +SKIP
>>> loss = criterion(logits, labels)                                      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import torch

from ..vocab import MetricVocab
from .functional import metric_token_loss
from .registry import get_loss


class MetricTokenLoss(torch.nn.Module):
    """CE + a registered metric term; ``last_components`` holds the parts of the last call."""

    loss_name = "ntil"

    def __init__(self, vocab: MetricVocab, loss: str | None = None, **args: Any) -> None:
        super().__init__()
        self.vocab = vocab
        self.spec = get_loss(loss or self.loss_name)
        self.args = self.spec.parse_args(args)
        self.last_components: dict[str, torch.Tensor] = {}

    def forward(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        num_items_in_batch: int | torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        shift: bool = True,
    ) -> torch.Tensor:
        out = metric_token_loss(
            logits, labels, self.vocab, self.spec, self.args,
            num_items_in_batch=num_items_in_batch, position_ids=position_ids, shift=shift,
        )
        self.last_components = out.components
        return out.loss

    def extra_repr(self) -> str:
        return f"loss={self.spec.name!r}, args={self.args}"


class CELoss(MetricTokenLoss):
    loss_name = "ce"


class EMDLoss(MetricTokenLoss):
    loss_name = "emd"


class NTILLoss(MetricTokenLoss):
    loss_name = "ntil"


class Dist2Loss(MetricTokenLoss):
    loss_name = "dist2"


class NTLMSELoss(MetricTokenLoss):
    loss_name = "ntl_mse"


class NTLWASLoss(MetricTokenLoss):
    loss_name = "ntl_was"
