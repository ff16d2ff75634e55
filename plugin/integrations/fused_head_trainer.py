"""The fused output head in a plain Hugging Face ``Trainer``: one mixin.

``compute_loss_func=MetricLoss(...)`` alone uses the logits path (the model computes full logits).
With this mixin first in the bases, the training forward bypasses ``lm_head`` and the
``MetricLoss`` computes the head only at supervised positions (see ``metricsft.head_bypass``);
evaluation and prediction keep the model's logits. ``metric_loss_args``-style ``fused_head``
(``MetricLoss(tok, "ntil", {"fused_head": False})``) switches it off.

>>> class FusedTrainer(FusedHeadTrainerMixin, transformers.Trainer): ...          # doctest: +SKIP
>>> FusedTrainer(model=model, args=args, train_dataset=ds,
...              compute_loss_func=MetricLoss(tokenizer, "dist2")).train()         # doctest: +SKIP

TRL's ``SFTTrainer`` (<= 0.24) computes its logged entropy and token accuracy from
``outputs.logits`` of the training forward, which would be hidden states here: the mixin refuses
it (use ``compute_loss_func=MetricLoss(...)`` there, the logits path).
"""

from __future__ import annotations

import functools
from typing import Any

from ..head_bypass import resolve_fused_head
from ..metric_loss import MetricLoss


class FusedHeadTrainerMixin:
    """``compute_loss`` with the head bypassed during training forwards (``MetricLoss`` required)."""

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, **kwargs: Any):
        loss_fn = self.compute_loss_func
        if not isinstance(loss_fn, MetricLoss):
            raise TypeError(
                f"{type(self).__name__} (FusedHeadTrainerMixin) needs compute_loss_func=MetricLoss(...); got "
                f"{type(loss_fn).__name__}"
            )
        if not hasattr(self, "_metricsft_head"):
            trl_sft = any(cls.__module__.startswith("trl.") and cls.__name__ == "SFTTrainer" for cls in type(self).__mro__)
            if trl_sft and loss_fn.fused_head is not False:
                raise TypeError(
                    "FusedHeadTrainerMixin cannot wrap TRL's SFTTrainer: it reads outputs.logits of the training "
                    "forward for its entropy / token-accuracy logs. Pass compute_loss_func=MetricLoss(...) to "
                    "SFTTrainer directly (the logits path)."
                )
            self._metricsft_head, _note = resolve_fused_head(self.model, loss_fn.fused_head)
        head = self._metricsft_head
        if head is None or not model.training or return_outputs:
            return super().compute_loss(model, inputs, return_outputs=return_outputs, **kwargs)
        # HF's compute_loss calls compute_loss_func(outputs, labels, num_items_in_batch): hand it the head.
        self.compute_loss_func = functools.partial(loss_fn, head=head)
        try:
            with head.bypassed():
                return super().compute_loss(model, inputs, return_outputs=return_outputs, **kwargs)
        finally:
            self.compute_loss_func = loss_fn
