"""Name -> object tables with lazy imports and helpful errors, and the one unknown-argument check.

Every table of named things (model families, tasks, converters, backends, losses) is a ``Registry``:
entries are ``"module:object"`` strings imported on first use (so one entry's optional dependency is
needed only when that entry is used), and an unknown name gets one line that lists the valid names
and the closest one.

>>> families = Registry("family", {"llava": "metricsft.templates.llava:LlavaCodec"})
>>> families.names
('llava',)
>>> families.load("llava").__name__
'LlavaCodec'
>>> families.load("lava")
Traceback (most recent call last):
...
ValueError: unknown family 'lava'; choose one of: llava; did you mean 'llava'?
>>> check_arguments({"alpha": 1, "tua": 2}, ["alpha", "tau"], "metric_loss_args", " for metric_loss 'dist2'")
Traceback (most recent call last):
...
ValueError: unknown metric_loss_args ['tua'] for metric_loss 'dist2'; valid: ['alpha', 'tau']; did you mean 'tau' for 'tua'?
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Generic, Iterable, Mapping, TypeVar

T = TypeVar("T")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close.

    >>> did_you_mean("qwen2vl", ["qwen2_vl", "llava"]), did_you_mean("zzz", ["llava"])
    ("; did you mean 'qwen2_vl'?", '')
    """
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_name_error(what: str, name: str, choices: Iterable[str]) -> ValueError:
    """The error for a name that is not one of ``choices`` (the caller raises it)."""
    choices = list(choices)
    return ValueError(f"unknown {what} {name!r}; choose one of: {', '.join(choices)}{did_you_mean(name, choices)}")


def check_arguments(given: Mapping[str, Any] | Iterable[str], allowed: Iterable[str], what: str, where: str = "") -> None:
    """Raise one ``ValueError`` naming every key of ``given`` that is not in ``allowed`` (the one unknown-argument
    check: loss arguments, trainer settings, options). ``where`` follows ``what`` in the message.

    >>> check_arguments({"alpha": 1}, ["alpha", "tau"], "metric_loss_args")
    """
    allowed = list(allowed)
    unknown = sorted(set(given) - set(allowed))
    if not unknown:
        return
    hints = [f"{close[0]!r} for {key!r}" for key in unknown if (close := difflib.get_close_matches(key, allowed, n=1, cutoff=0.6))]
    hint = f"; did you mean {', '.join(hints)}?" if hints else ""
    raise ValueError(f"unknown {what} {unknown}{where}; valid: {allowed}{hint}")


class Registry(Generic[T]):
    """Names -> ``"module:object"`` targets (or objects), resolved lazily and cached."""

    def __init__(self, what: str, entries: Mapping[str, str | T]) -> None:
        self.what = what
        self._entries: dict[str, str | T] = dict(entries)
        self._loaded: dict[str, T] = {}

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def check(self, name: str) -> str:
        """``name`` if registered, else the ``ValueError`` listing the names and the closest one."""
        if name not in self._entries:
            raise unknown_name_error(self.what, name, self._entries)
        return name

    def load(self, name: str) -> T:
        """The object registered as ``name`` (imported on first use)."""
        self.check(name)
        if name not in self._loaded:
            target = self._entries[name]
            if isinstance(target, str):
                module_name, _, attribute = target.partition(":")
                target = getattr(importlib.import_module(module_name), attribute)  # type: ignore[assignment]
            self._loaded[name] = target  # type: ignore[assignment]
        return self._loaded[name]

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {list(self._entries)})"
