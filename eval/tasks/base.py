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
from pathlib import Path
from typing import Any, Mapping, Sequence

from metricsft.eval.backends.base import Request
from metricsft.eval.report import Report
from metricsft.templates import Codec, ImageInfo, get_codec

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
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err
        numbered = list(enumerate(rows, start=1))
    else:
        numbered = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                numbered.append((line_no, json.loads(line)))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_no}: invalid JSON ({err.msg}); each line must be one JSON object") from err
    for line_no, row in numbered:
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{line_no}: expected a JSON object per row, got {type(row).__name__}")
    return [row for _, row in numbered]


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


class Task(ABC):
    """One benchmark: subclasses set ``name`` and ``max_new_tokens`` and implement ``score_rows``."""

    name: str = ""
    max_new_tokens: int = 256
    #: human-readable rule per metric, copied into every Report
    rules: dict[str, str] = {}

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

    @abstractmethod
    def score_rows(self, rows: list[dict], texts: list[str | None], codec: Codec) -> Report:
        """Score aligned rows and generated texts (None = no prediction for that row)."""

    # -- helpers for subclasses --------------------------------------------------------------------
    @staticmethod
    def truth(row: Mapping[str, Any]) -> dict[str, Any] | None:
        """The canonical truth of a converted row (``meta.truth``), None when the row has none."""
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
        meta = row.get("meta") or {}
        size = meta.get("image_size")
        if not size:
            return STAND_IN_IMAGE
        return ImageInfo(int(size[0]), int(size[1]), meta.get("min_pixels"), meta.get("max_pixels"))


def count_reasons(reasons: Sequence[str | None]) -> dict[str, int]:
    """How often each parse-failure reason occurred (None = parsed fine).

    Reasons quote the model's text and its numbers; those are masked so that the same kind of failure
    groups into one line ("expected a time written H:MM, got '…'").
    """
    return dict(Counter(_NUMBER.sub("N", _QUOTED.sub("'…'", r))[:160] for r in reasons if r))


# quotes of model text (short fixed quotes such as '#### ' stay readable)
_QUOTED = re.compile(r"'[^']{12,}'|\"[^\"]{12,}\"")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


NO_PREDICTION = "no prediction for this row"
