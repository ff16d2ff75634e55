"""Loss registry: a name -> (argument dataclass, term function).

Adding a loss is one file that calls :func:`register_loss`. The term function receives the
gathered metric block (see :mod:`metricsft.losses.targets`) and returns the extra term *summed*
over tokens (and numbers) plus its named components; cross-entropy, reduction and the fused
gradient are shared by all losses.

>>> from metricsft.losses import get_loss
>>> spec = get_loss("dist2")
>>> spec.parse_args({"alpha": 0.2}).alpha
0.2
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from ..registry import check_arguments, unknown_name_error
from .targets import MetricTargets


@dataclass
class TermResult:
    """Sum of the extra term over the batch and its named parts (each a 0-d tensor, summed too)."""

    total: torch.Tensor
    components: dict[str, torch.Tensor]


# (targets, block logits [K, G], block lse [K], detached CE sum, args) -> TermResult
TermFunction = Callable[[MetricTargets, torch.Tensor, torch.Tensor, torch.Tensor, Any], TermResult]


@dataclass(frozen=True)
class LossSpec:
    name: str
    args_type: type
    term: TermFunction | None  # None: plain cross-entropy
    summary: str

    def arg_names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.args_type)]

    def parse_args(self, args: Mapping[str, Any] | Any | None = None) -> Any:
        """Validate user arguments (a dict or an instance) into the loss's dataclass."""
        if args is None:
            return self.args_type()
        if isinstance(args, self.args_type):
            return args
        if not isinstance(args, Mapping):
            raise TypeError(f"arguments of loss {self.name!r} must be a mapping; got {type(args).__name__}")
        check_arguments(args, self.arg_names(), "argument(s)", f" for metric_loss {self.name!r}")
        args = self._with_preset(args)
        try:
            return self.args_type(**args)
        except (TypeError, ValueError) as err:  # re-raised with the loss name; nothing is swallowed
            raise ValueError(f"metric_loss {self.name!r}: {err}") from err

    def presets(self) -> dict[str, dict[str, Any]]:
        """Named argument sets (``preset: official``): the values a paper's official code uses."""
        return dict(getattr(self.args_type, "PRESETS", {}))

    def _with_preset(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """A preset fills in every argument it names; arguments given next to it still win."""
        name = args.get("preset")
        if name is None:
            return dict(args)
        presets = self.presets()
        if name not in presets:
            raise ValueError(
                f"metric_loss {self.name!r}: unknown preset {name!r}; valid: {sorted(presets) or 'none (this loss has no presets)'}"
            )
        return {**presets[name], **args}


_REGISTRY: dict[str, LossSpec] = {}


def register_loss(name: str, args_type: type, term: TermFunction | None, summary: str) -> LossSpec:
    if name in _REGISTRY:
        raise ValueError(f"a metric loss named {name!r} is already registered")
    spec = LossSpec(name=name, args_type=args_type, term=term, summary=summary)
    _REGISTRY[name] = spec
    return spec


def get_loss(name: str) -> LossSpec:
    """The registered loss called ``name``; otherwise the shared unknown-name ``ValueError`` (the valid
    names, in registration order, and the closest one).

    >>> get_loss("dist2").name
    'dist2'
    >>> get_loss("dist")
    Traceback (most recent call last):
    ...
    ValueError: unknown metric_loss 'dist'; choose one of: ...; did you mean 'dist2'?
    """
    if name not in _REGISTRY:
        raise unknown_name_error("metric_loss", name, _REGISTRY)
    return _REGISTRY[name]


def loss_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def check_positive(name: str, value: float, allow_zero: bool = True) -> None:
    """Argument validation shared by the loss dataclasses."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number; got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>=' if allow_zero else '>'} 0; got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Argument validation for string options."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}")
