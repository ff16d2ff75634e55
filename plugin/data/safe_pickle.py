"""Load the official RefCOCO ``refs(*).p`` pickle without running arbitrary code.

A pickle can call any importable function while loading. The refs files only hold lists,
dicts, strings and numbers, which pickle builds with plain opcodes, so our unpickler refuses
every global lookup except the builtin container types; anything else is an error that
names the refused global.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from .common import ConversionError

_ALLOWED = {
    (module, name)
    for module in ("builtins", "__builtin__")
    for name in ("list", "dict", "tuple", "set", "frozenset", "str", "unicode", "int", "long", "float", "bool")
}


class ContainersOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can build builtin containers and scalars, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: only plain containers are allowed")


def load_containers(path: Path) -> Any:
    """Read ``path`` with ``ContainersOnlyUnpickler``; Python 2 pickles decode text as UTF-8."""
    try:
        return ContainersOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="utf-8").load()
    except (pickle.UnpicklingError, UnicodeDecodeError, EOFError, ValueError) as err:
        raise ConversionError(f"{path}: cannot read this pickle safely: {err}") from err
