"""Command-line flags derived from a dataclass, so defaults and help are written once (on the field).

A field becomes ``--field-name``; a field without a default is a required flag; ``bool`` fields are
switches (``--name`` sets a ``False`` default, ``--no-name`` clears a ``True`` one); ``int`` / ``float``
fields are parsed as such; a non-zero, non-empty default is shown after the help. Field metadata tunes it:

- ``"help"``: the help text;
- ``"flag"``: another flag name (``"--format"`` for field ``family``);
- ``"positional"``: ``True`` makes it a positional argument named after the field;
- ``"choices"``: the allowed values, or a function returning them, called when the parser is built
  (choices from a lazily imported table);
- ``"type"``: the function that parses the text (``json.loads``), instead of the annotation's type;
- ``"group"``: the title of the argument group the flag is listed under (``groups`` gives descriptions);
- ``"cli"``: ``False`` hides the field.

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

Positional arguments, renamed flags, lazy choices, inverse switches and groups:

>>> @dataclass
... class Run:
...     task: str = field(metadata={"positional": True, "choices": lambda: ["gsm8k", "clock"]})
...     family: str = field(default="llama", metadata={"flag": "--format", "help": "model family"})
...     progress: bool = field(default=True, metadata={"help": "hide the progress bar"})
...     samples: int = field(default=8, metadata={"group": "sampling", "help": "samples per row"})
>>> parser = argparse.ArgumentParser(prog="run")
>>> add_dataclass_flags(parser, Run, groups={"sampling": "draw N answers per row"})
>>> from_namespace(Run, parser.parse_args(["clock", "--format", "qwen2_vl", "--no-progress"]))
Run(task='clock', family='qwen2_vl', progress=False, samples=8)
>>> print(" ".join(parser.format_usage().split()))
usage: run [-h] [--format FAMILY] [--no-progress] [--samples SAMPLES] {gsm8k,clock}
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Mapping, TypeVar

T = TypeVar("T")

_NO_DEFAULT = object()


def _scalar(annotation: Any) -> Any:
    """``int | None`` -> int; ``bool`` -> bool; anything else -> the annotation itself."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation


def _default(spec: dataclasses.Field) -> Any:
    """The field's default (a fresh one from ``default_factory``), or ``_NO_DEFAULT``."""
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return _NO_DEFAULT


def _help(spec: dataclasses.Field, default: Any, kind: Any) -> str:
    """The field's help, plus its default when that says something (not for switches, None, 0 or empty)."""
    text = spec.metadata.get("help", "")
    if default is not _NO_DEFAULT and default and kind is not bool:
        text += f" (default {default})"
    return text


def _choices(spec: dataclasses.Field) -> Any:
    """The allowed values; a function is called now, so its (lazily imported) table loads with the parser."""
    choices = spec.metadata["choices"]
    return list(choices()) if callable(choices) else choices


def _container(
    parser: argparse.ArgumentParser, spec: dataclasses.Field, groups: Mapping[str, str], made: dict[str, Any]
) -> Any:
    """The parser itself, or the argument group the field names (made once, with its description)."""
    title = spec.metadata.get("group")
    if title is None:
        return parser
    if title not in made:
        made[title] = parser.add_argument_group(title, groups.get(title))
    return made[title]


def _add_switch(container: Any, spec: dataclasses.Field, default: Any, help_text: str) -> None:
    """``--name`` turns a ``False`` field on; ``--no-name`` turns a ``True`` field off."""
    turns_off = default is True
    prefix = "--no-" if turns_off else "--"
    flag = spec.metadata.get("flag", prefix + spec.name.replace("_", "-"))
    container.add_argument(flag, dest=spec.name, action="store_false" if turns_off else "store_true", help=help_text)


def _add_field(container: Any, spec: dataclasses.Field, kind: Any) -> None:
    default = _default(spec)
    help_text = _help(spec, default, kind)
    if kind is bool:
        _add_switch(container, spec, default, help_text)
        return
    options: dict[str, Any] = {"help": help_text}
    if "type" in spec.metadata:
        options["type"] = spec.metadata["type"]
    elif kind in (int, float):
        options["type"] = kind
    if "choices" in spec.metadata:
        options["choices"] = _choices(spec)
    has_default = default is not _NO_DEFAULT
    if spec.metadata.get("positional"):
        # argparse names a positional's destination after the argument itself: the field's name.
        if has_default:
            options.update(nargs="?", default=default)
        container.add_argument(spec.name, **options)
        return
    flag = spec.metadata.get("flag", "--" + spec.name.replace("_", "-"))
    container.add_argument(
        flag, dest=spec.name, required=not has_default, default=default if has_default else None, **options
    )


def add_dataclass_flags(
    parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (), groups: Mapping[str, str] | None = None
) -> None:
    """Add one argument per field of ``cls`` (except ``skip`` and fields with ``metadata["cli"] = False``).

    ``groups`` maps a ``metadata["group"]`` title to the description printed under it in ``--help``.
    """
    hints = typing.get_type_hints(cls)
    made: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):
        if spec.name in skip or spec.metadata.get("cli") is False:
            continue
        container = _container(parser, spec, groups or {}, made)
        _add_field(container, spec, _scalar(hints[spec.name]))


def from_namespace(cls: type[T], namespace: argparse.Namespace, **extra: Any) -> T:
    """An instance of ``cls`` from the parsed flags (plus ``extra`` fields set by the caller)."""
    values = {spec.name: getattr(namespace, spec.name) for spec in dataclasses.fields(cls) if hasattr(namespace, spec.name)}
    return cls(**{**values, **extra})  # type: ignore[call-arg]
