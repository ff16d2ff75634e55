"""What every benchmark task shares: reading rows, building requests, finding the truth of a row.

Rows come in two shapes, both JSON objects one per line (a JSON list file is accepted too):

* converted rows (``metricsft data convert``): ``id``, ``messages``, ``images``, ``meta.truth``...
* LLaMA-Factory ``generated_predictions.jsonl`` rows: ``prompt``, ``predict``, ``label``; they carry
  no truth metadata, so the truth is read back from ``label`` with the family codec, unless the
  converted dataset is joined in by row index (``metricsft score --data``).
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Mapping, Sequence, TypeVar

from metricsft.eval.backends.base import Request
from metricsft.eval.report import Plot, Report
from metricsft.templates import Codec, ImageInfo, get_codec
from metricsft.templates.rows import Truth, image_from_meta, read_truth

G = TypeVar("G")  # what a task compares against: its typed truth, or what it reads from the reference

# Used when a row does not say how large its image was (a bare generated_predictions.jsonl). IoU is
# unchanged by the per-axis linear maps every family uses between pixels and written numbers, so
# boxes parsed against the same stand-in size still give the true IoU; only range checks of
# pixel-based families (qwen2_5_vl, llama) are looser.
STAND_IN_IMAGE = ImageInfo(width=4096, height=4096)


def read_json_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file (or of a JSON list file); errors name the file and line.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "rows.jsonl")
    >>> _ = open(p, "w").write('{"predict": "1", "label": "1"}\\n')
    >>> read_json_rows(p)
    [{'predict': '1', 'label': '1'}]
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (pass a converted dataset or generated_predictions.jsonl)")
    if path.is_dir():
        inside = path / "generated_predictions.jsonl"
        hint = f"; did you mean {inside}?" if inside.is_file() else ""
        raise ValueError(f"{path}: is a directory; pass the JSONL file itself{hint}")
    text = _utf8_text(path)
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err
        except ValueError as err:  # e.g. an integer over Python's 4,300-digit limit
            raise ValueError(f"{path}: invalid JSON ({err})") from err
        numbered = list(enumerate(rows, start=1))
    else:
        numbered = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                numbered.append((line_no, json.loads(line)))
            except ValueError as err:  # JSONDecodeError, or an integer over Python's 4,300-digit limit
                why = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
                raise ValueError(f"{path}:{line_no}: invalid JSON ({why}); each line must be one JSON object") from err
    for line_no, row in numbered:
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{line_no}: expected a JSON object per row, got {type(row).__name__}")
    return [row for _, row in numbered]


def _utf8_text(path: Path) -> str:
    """The file as UTF-8 text; a file in another encoding (latin-1...) is refused naming the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line_no = data.count(b"\n", 0, err.start) + 1
        raise ValueError(
            f"{path}:{line_no}: not UTF-8 (byte 0x{data[err.start]:02x}); JSON rows must be UTF-8: convert the file, "
            f"e.g. iconv -f latin1 -t utf-8"
        ) from err


def row_id(row: Mapping[str, Any], index: int) -> str:
    """The row's stable id: its ``id`` field, else its position (generated_predictions has no ids)."""
    return str(row["id"]) if row.get("id") is not None else f"row-{index}"


def join_by_index(predictions: Sequence[dict], converted: Sequence[dict], where: str = "") -> list[dict]:
    """Attach each converted row's fields to the prediction row at the same position.

    LLaMA-Factory writes generated_predictions.jsonl in dataset order, so position is the join key.
    """
    if len(predictions) != len(converted):
        raise ValueError(
            f"{where}: {len(predictions)} prediction rows but {len(converted)} converted rows; --data must be "
            "the exact dataset file the predictions were generated from (same rows, same order)"
        )
    return [{**data, **pred, "id": data.get("id", pred.get("id"))} for pred, data in zip(predictions, converted)]


@dataclass
class Aggregate:
    """A task's dataset-level result: metrics, counts, rows that describe groups (pairs), rule overrides."""

    metrics: dict[str, float]
    counts: dict[str, Any] = field(default_factory=dict)
    extra_rows: list[dict[str, Any]] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)


class Task(ABC, Generic[G]):
    """One benchmark. The scoring loop (row ids, truth, parse or no prediction, failure reasons and rate)
    is ``score_rows``, written once; a task supplies four steps:

    * ``gold(row, rid, codec)``: what the row is compared against (usually its typed ``meta.truth``);
    * ``parse(text, gold, row, codec)``: ``(value, reason)`` read from the model's answer, ``reason`` None
      when it parsed (a partial ``value`` may come with a reason, e.g. GSM8k's flexible extract);
    * ``score_one(gold, value, reason, row)``: the per-row report entry (or entries); keys starting with
      ``_`` are for ``aggregate`` only and left out of the report;
    * ``aggregate(entries, failure_rate, codec, rows)``: the metrics.

    ``plots`` declares the figures the per-row entries support (``Report.plot`` draws them).
    """

    name: str = ""
    max_new_tokens: int = 256
    #: human-readable rule per metric, copied into every Report
    rules: dict[str, str] = {}
    #: figures drawn from the per-row entries by ``Report.plot``
    plots: tuple[Plot, ...] = ()

    def read_rows(self, path: str | Path) -> list[dict[str, Any]]:
        """Converted rows or generated_predictions rows; a row without ``id`` gets ``row-<index>``."""
        rows = read_json_rows(path)
        for index, row in enumerate(rows):
            row.setdefault("id", row_id(row, index))
        return rows

    def request(self, row: Mapping[str, Any], family: str) -> Request:
        """The prompt of a converted row (every turn up to the last assistant answer) for the backend."""
        rid = row_id(row, 0)
        messages = row.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValueError(
                f"row {rid!r}: no 'messages' list; generate from a converted dataset (metricsft data convert), "
                "not from a generated_predictions.jsonl file"
            )
        meta_family = (row.get("meta") or {}).get("family")
        if meta_family and meta_family != family:
            raise ValueError(
                f"row {rid!r} was converted for family {meta_family!r} but --format is {family!r}; "
                f"pass --format {meta_family} or convert the data again with --format {family}"
            )
        prompt = list(messages)
        while prompt and prompt[-1].get("role") == "assistant":
            prompt.pop()
        if not prompt:
            raise ValueError(f"row {rid!r}: 'messages' holds no user turn to answer")
        return Request(
            id=rid,
            messages=[{"role": m["role"], "content": m["content"]} for m in prompt],
            images=list(row.get("images") or []),
            max_new_tokens=self.max_new_tokens,
        )

    def score(self, rows: Sequence[dict], predictions: Mapping[str, str], family: str) -> Report:
        """Parse every row's prediction and score the task.

        ``predictions`` maps row ids to generated text; rows that carry their own ``predict`` field
        (generated_predictions.jsonl) may be scored with an empty mapping.
        """
        codec = get_codec(family)
        texts: list[str | None] = []
        for index, row in enumerate(rows):
            rid = row_id(row, index)
            texts.append(predictions[rid] if rid in predictions else row.get("predict"))
        report = self.score_rows(list(rows), texts, codec)
        missing = sum(text is None for text in texts)
        report.counts = {"rows": len(rows), "missing_predictions": missing, **report.counts}
        merged = {**self.rules, **report.rules}
        prefixes = {name.split("/")[0] + "/*" for name in report.metrics}
        report.rules = {k: v for k, v in merged.items() if k in report.metrics or k in prefixes}
        return report

    def score_rows(self, rows: list[dict], texts: list[str | None], codec: Codec) -> Report:
        """Score aligned rows and generated texts (None = no prediction for that row)."""
        entries: list[dict[str, Any]] = []
        reasons: list[str | None] = []
        for index, (row, text) in enumerate(zip(rows, texts)):
            rid = row_id(row, index)
            gold = self.gold(row, rid, codec)
            value, reason = (None, NO_PREDICTION) if text is None else self.parse(text, gold, row, codec)
            reasons.append(reason)
            scored = self.score_one(gold, value, reason, row)
            entries.extend({"id": rid, **entry} for entry in (scored if isinstance(scored, list) else [scored]))
        failure_rate = sum(r is not None for r in reasons) / (len(rows) or 1)
        result = self.aggregate(entries, failure_rate, codec, rows)
        shown = [{k: v for k, v in entry.items() if not k.startswith("_")} for entry in entries]
        return Report(self.name, result.metrics, result.counts, count_reasons(reasons), shown + result.extra_rows,
                      result.rules, plots=self.plots)

    @abstractmethod
    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> G:
        """What row ``rid`` is compared against; a row with nothing to compare against raises ValueError."""

    @abstractmethod
    def parse(self, text: str, gold: G, row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        """``(value, reason)`` read from the model's answer; ``reason`` is None when it parsed."""

    @abstractmethod
    def score_one(self, gold: G, value: Any, reason: str | None, row: Mapping[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
        """The per-row report entry (the loop adds ``id``); ``value`` is None when nothing parsed."""

    @abstractmethod
    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec, rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        """Dataset-level metrics from the per-row entries; ``failure_rate`` is the share of rows with a reason."""

    # -- helpers for subclasses --------------------------------------------------------------------
    def typed_truth(self, row: Mapping[str, Any], rid: str) -> Truth | None:
        """The typed truth of a converted row (``meta.truth``, see ``metricsft.templates.rows``), None when
        the row has none (a bare generated_predictions row); a malformed one raises ``RowError``."""
        data = (row.get("meta") or {}).get("truth")
        return None if data is None else read_truth(self.name, data, rid)

    @staticmethod
    def truth(row: Mapping[str, Any]) -> dict[str, Any] | None:
        """The raw ``meta.truth`` JSON object, None when absent. Prefer ``typed_truth``, which checks the keys."""
        truth = (row.get("meta") or {}).get("truth")
        return truth if isinstance(truth, dict) else None

    @staticmethod
    def label(row: Mapping[str, Any], rid: str) -> str:
        """The reference answer text: ``label`` (generated_predictions) or the last assistant turn."""
        if isinstance(row.get("label"), str):
            return row["label"]
        for message in reversed(row.get("messages") or []):
            if message.get("role") == "assistant":
                return message["content"]
        raise ValueError(f"row {rid!r}: no meta.truth, no 'label' and no assistant answer to score against")

    @staticmethod
    def image_info(row: Mapping[str, Any]) -> ImageInfo:
        """The original image size of a row (``meta.image_size`` = [width, height]), or the stand-in."""
        return image_from_meta(row.get("meta") or {}, row_id(row, 0)) or STAND_IN_IMAGE


def count_reasons(reasons: Sequence[str | None]) -> dict[str, int]:
    """How often each parse-failure reason occurred (None = parsed fine).

    Reasons quote the model's text and its numbers; those are masked so that the same kind of failure
    groups into one line ("expected a time written H:MM, got '…'").
    """
    return dict(Counter(_NUMBER.sub("N", _QUOTED.sub("'…'", r))[:160] for r in reasons if r))


# quotes of model text (short fixed quotes such as '#### ' stay readable)
_QUOTED = re.compile(r"'[^']{12,}'|\"[^\"]{12,}\"")
# numbers, but not digits that belong to a name or a syntax template ("qwen2_vl", "(x1,y1)")
_NUMBER = re.compile(r"(?<![A-Za-z_\d])\d+(?:\.\d+)?(?![A-Za-z_\d])")


NO_PREDICTION = "no prediction for this row"
