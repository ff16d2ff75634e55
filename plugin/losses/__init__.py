"""Metric-token losses: one file per loss, a registry, a functional API and module wrappers.

>>> from metricsft.losses import LOSS_NAMES
>>> LOSS_NAMES
('ce', 'emd', 'ntil', 'dist2', 'ntl_mse', 'ntl_was')
"""

from . import ce, emd, ntil, dist2, ntl  # noqa: F401  (registration order = LOSS_NAMES order)
from .dist2 import Dist2Args
from .emd import EMDArgs
from .functional import LossOutput, metric_token_loss, ce_loss, emd_loss, ntil_loss, dist2_loss, ntl_mse_loss, ntl_was_loss
from .modules import CELoss, Dist2Loss, EMDLoss, MetricTokenLoss, NTILLoss, NTLMSELoss, NTLWASLoss
from .ntil import NTILArgs
from .ntl import NTLArgs
from .registry import LossSpec, TermResult, get_loss, loss_names, register_loss

LOSS_NAMES = loss_names()

__all__ = [
    "LOSS_NAMES", "LossSpec", "TermResult", "get_loss", "loss_names", "register_loss",
    "LossOutput", "metric_token_loss", "ce_loss", "emd_loss", "ntil_loss", "dist2_loss", "ntl_mse_loss", "ntl_was_loss",
    "MetricTokenLoss", "CELoss", "EMDLoss", "NTILLoss", "Dist2Loss", "NTLMSELoss", "NTLWASLoss",
    "NTILArgs", "Dist2Args", "EMDArgs", "NTLArgs",
]
