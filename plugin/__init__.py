"""metricsft: metric-aware token losses (NTIL, DIST2Loss, EMD, NTL) for LLM / VLM fine-tuning.

>>> from metricsft import MetricLoss
>>> loss_fn = MetricLoss(tokenizer, "dist2", {"alpha": 0.1})   # doctest: +SKIP
>>> loss = loss_fn(model(**batch), batch["labels"])          # doctest: +SKIP
"""

from .losses import LOSS_NAMES, get_loss, metric_token_loss
from .metric_loss import MetricLoss
from .spans import NumberSpans, number_spans
from .vocab import CodebookMetric, MetricGroup, MetricVocab, build_metric_vocab

__version__ = "0.1.0"

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
