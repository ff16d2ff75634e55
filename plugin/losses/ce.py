"""Plain cross-entropy: the baseline every other loss adds a term to."""

from __future__ import annotations

from dataclasses import dataclass

from .registry import register_loss


@dataclass
class CEArgs:
    """Cross-entropy takes no arguments."""


CE = register_loss("ce", CEArgs, None, "cross-entropy only (the baseline)")
