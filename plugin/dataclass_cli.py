"""Command-line flags derived from a dataclass, so defaults and help are written once (on the field).

A field becomes ``--field-name`` (``metadata["flag"]`` renames it); a field without a default is a
required flag; ``bool`` fields are switches; ``int`` / ``float`` fields are parsed as such;
``metadata["help"]`` and ``metadata["choices"]`` go to argparse. ``metadata["cli"] = False`` hides a field.

>>> import argparse
>>> from dataclasses import dataclass, field
>>> @dataclass
... class Options:
...     src: str = field(metadata={"help": "input file"})
...     limit: int | None = field(default=None, metadata={"help": "stop after N rows"})
...     quiet: bool = False
>>> parser = argparse.ArgumentParser()
>>> add_dataclass_flags(parser, Options)
>>> from_namespace(Options, parser.parse_args(["--src", "a.jsonl", "--limit", "3"]))
Options(src='a.jsonl', limit=3, quiet=False)
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def _scalar(annotation: Any) -> Any:
    """``int | None`` -> int; ``bool`` -> bool; anything else -> the annotation itself."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per field of ``cls`` (except ``skip`` and fields with ``metadata["cli"] = False``)."""
    hints = typing.get_type_hints(cls)
    for spec in dataclasses.fields(cls):
        if spec.name in skip or spec.metadata.get("cli") is False:
            continue
        flag = spec.metadata.get("flag", "--" + spec.name.replace("_", "-"))
        kind = _scalar(hints[spec.name])
        has_default = spec.default is not dataclasses.MISSING
        default = spec.default if has_default else None
        help_text = spec.metadata.get("help", "")
        if has_default and default not in (None, False, "") and kind is not bool:
            help_text += f" (default {default})"
        options: dict[str, Any] = {"dest": spec.name, "help": help_text}
        if kind is bool:
            parser.add_argument(flag, action="store_true", **options)
            continue
        if kind in (int, float):
            options["type"] = kind
        if "choices" in spec.metadata:
            options["choices"] = spec.metadata["choices"]
        parser.add_argument(flag, required=not has_default, default=default, **options)


def from_namespace(cls: type[T], namespace: argparse.Namespace, **extra: Any) -> T:
    """An instance of ``cls`` from the parsed flags (plus ``extra`` fields set by the caller)."""
    values = {spec.name: getattr(namespace, spec.name) for spec in dataclasses.fields(cls) if hasattr(namespace, spec.name)}
    return cls(**{**values, **extra})  # type: ignore[call-arg]
