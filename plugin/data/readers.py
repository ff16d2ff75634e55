"""Read records from JSON, JSONL or Parquet files, each tagged with where it came from.

``where`` strings (``file.jsonl:12``, ``file.json[3]``, ``file.parquet[row 7]``) go into every
error message, so a user can open the file at the bad record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from .common import ConversionError, Invalid

SUFFIXES = (".json", ".jsonl", ".parquet")


def record_files(src: Path) -> list[Path]:
    """``src`` itself, or the JSON/JSONL/Parquet files directly inside the folder ``src``."""
    if src.is_file():
        return [src]
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix in SUFFIXES and p.name != "dataset_info.json")
        if files:
            return files
        raise ConversionError(f"{src}: no .json / .jsonl / .parquet files in this folder")
    raise ConversionError(f"{src}: no such file or folder")


def read_records(path: Path) -> Iterator[tuple[str, dict[str, Any] | Invalid]]:
    """Yield ``(where, record)``; a line that is not a JSON object yields an ``Invalid``."""
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                where = f"{path}:{number}"
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    yield where, Invalid(where, "malformed row", f"not valid JSON ({err.msg}, column {err.colno})")
                    continue
                if not isinstance(record, dict):
                    yield where, Invalid(where, "malformed row", f"expected a JSON object, got {type(record).__name__}")
                    continue
                yield where, record
    elif path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as err:
            raise ConversionError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from err
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise ConversionError(f"{path}: expected a JSON list of records (or an object holding exactly one list)")
            data = lists[0]
        if not isinstance(data, list):
            raise ConversionError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
        for index, record in enumerate(data):
            where = f"{path}[{index}]"
            if isinstance(record, dict):
                yield where, record
            else:
                yield where, Invalid(where, "malformed row", f"expected a JSON object, got {type(record).__name__}")
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for index, record in enumerate(table.to_pylist()):
            yield f"{path}[row {index}]", record
    else:
        raise ConversionError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(SUFFIXES)}")


def iter_records(src: Path) -> Iterator[tuple[str, dict[str, Any] | Invalid]]:
    for path in record_files(src):
        yield from read_records(path)
