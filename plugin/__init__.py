"""metricsft: metric-aware token losses (NTIL, DIST2Loss, EMD, NTL) for LLM / VLM fine-tuning.

>>> from metricsft import MetricLoss
>>> loss_fn = MetricLoss(tokenizer, "dist2", {"alpha": 0.1})   # doctest: +SKIP
>>> loss = loss_fn(model(**batch), batch["labels"])          # doctest: +SKIP

The names below are imported on first use, so ``import metricsft.templates`` or
``metricsft.eval.parsers`` (the eval environment) never pulls in torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY: dict[str, str] = {
    "LOSS_NAMES": "losses",
    "get_loss": "losses",
    "metric_token_loss": "losses",
    "MetricLoss": "metric_loss",
    "NumberSpans": "spans",
    "number_spans": "spans",
    "CodebookMetric": "vocab",
    "MetricGroup": "vocab",
    "MetricVocab": "vocab",
    "build_metric_vocab": "vocab",
}

__all__ = [
    "LOSS_NAMES",
    "CodebookMetric",
    "MetricGroup",
    "MetricLoss",
    "MetricVocab",
    "NumberSpans",
    "build_metric_vocab",
    "get_loss",
    "metric_token_loss",
    "number_spans",
]

if TYPE_CHECKING:
    from .losses import LOSS_NAMES, get_loss, metric_token_loss
    from .metric_loss import MetricLoss
    from .spans import NumberSpans, number_spans
    from .vocab import CodebookMetric, MetricGroup, MetricVocab, build_metric_vocab


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'metricsft' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
