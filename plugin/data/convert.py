"""Run one converter: collect rows, stop on (or skip and count) bad input, write the dataset.

>>> # run_conversion(GSM8kOptions(task="gsm8k", src="test.jsonl", family="llama", out="data"))
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from metricsft.registry import Registry
from metricsft.tasks import task_registry
from metricsft.templates import get_codec

from .common import ConversionError, ConvertOptions, Converter, Invalid
from .writer import write_dataset

# task -> the CONVERTER (options class + convert generator) of its module metricsft.tasks.<task>, imported on first use
CONVERTERS: Registry[Converter] = task_registry("task", "CONVERTER")


@dataclass
class ConversionSummary:
    name: str
    data_path: Path
    info_path: Path
    rows: int
    skipped: Counter = field(default_factory=Counter)
    first_row: dict[str, Any] | None = None

    def lines(self) -> list[str]:
        out = [f"wrote {self.rows} rows to {self.data_path}", f"dataset_info entry {self.name!r} in {self.info_path}"]
        if self.skipped:
            total = sum(self.skipped.values())
            reasons = ", ".join(f"{reason}: {count}" for reason, count in self.skipped.most_common())
            out.append(f"skipped {total} invalid records ({reasons})")
        return out


def dataset_name(options: ConvertOptions, rows: Sequence[dict[str, Any]] = ()) -> str:
    """``--name``, else TASK[_VARIANT][_SPLIT]_FAMILY (the variant comes from the converter's options)."""
    if options.name:
        return options.name
    parts = [options.task] + options.name_parts(rows) + ([options.split] if options.split else []) + [options.family]
    return "_".join(parts).replace("+", "plus").replace("/", "-")


def run_conversion(options: ConvertOptions, progress: bool = True) -> ConversionSummary:
    """Convert ``options.src`` and write ``OUT/<name>.jsonl`` + ``OUT/dataset_info.json``."""
    try:
        convert = CONVERTERS.load(options.task).convert
        codec = get_codec(options.family)
    except ValueError as err:  # an unknown task or family: the registry's message lists the valid names
        raise ConversionError(str(err)) from err
    if options.limit is not None and options.limit < 1:
        raise ConversionError(f"--limit must be at least 1, got {options.limit}")

    from tqdm import tqdm

    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    skipped: Counter = Counter()
    bar = tqdm(desc=f"convert {options.task}", unit="row", disable=not progress)
    for item in convert(options, codec):
        if isinstance(item, Invalid):
            if not options.skip_invalid:
                raise ConversionError(f"{item.message()}\n(fix the input, or pass --skip-invalid to skip such records)")
            skipped[item.reason] += 1
            continue
        if item["id"] in seen:
            raise ConversionError(f"duplicate row id {item['id']!r} (rows {seen[item['id']]} and {len(rows)}); ids must be unique")
        seen[item["id"]] = len(rows)
        rows.append(item)
        bar.update()
        if options.limit is not None and len(rows) >= options.limit:
            break
    bar.close()
    if not rows:
        detail = f" (skipped: {dict(skipped)})" if skipped else ""
        raise ConversionError(f"{options.src}: no rows converted{detail}")
    name = dataset_name(options, rows)
    data_path, info_path = write_dataset(Path(options.out), name, rows)
    return ConversionSummary(name, data_path, info_path, len(rows), skipped, rows[0])
