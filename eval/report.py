"""The result of scoring one task: metrics, counts, parse-failure reasons, per-row details and the rules.

Every metric carries the exact rule used to compute it (lm-evaluation-harness style), so a number in a
results table can always be traced back to how it was measured.

    >>> r = Report("clock", metrics={"accuracy": 0.5}, counts={"rows": 2}, failure_reasons={"no time": 1},
    ...            per_row=[], rules={"accuracy": "exact H:MM on a 12-hour dial"})
    >>> print(r.to_markdown().splitlines()[2])
    | accuracy | 0.5000 | exact H:MM on a 12-hour dial |
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Plot:
    """A figure a task declares for its per-row entries.

    ``kind="histogram"``: the values of ``key`` (a number or a list of numbers per row) over ``range_``;
    ``kind="confusion"``: ``truth_label`` against ``pred_label`` of the rows that have them.
    The file is ``<task>_<name>.png``.
    """

    kind: str
    name: str
    key: str = ""
    xlabel: str = ""
    bins: int = 20
    range_: tuple[float, float] = (0.0, 1.0)


IOU_HISTOGRAM = Plot("histogram", "iou_hist", key="iou", xlabel="IoU", bins=20, range_=(0, 1))
CONFUSION = Plot("confusion", "confusion")


@dataclass
class Report:
    """Scores of one task on one set of predictions."""

    task: str
    metrics: dict[str, float]
    counts: dict[str, Any]
    failure_reasons: dict[str, int]
    per_row: list[dict[str, Any]]
    rules: dict[str, str] = field(default_factory=dict)
    #: the figures ``plot`` draws (declared by the task)
    plots: tuple[Plot, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes None, which JSON can represent)."""
        return {
            "task": self.task,
            "metrics": {k: _finite_or_none(v) for k, v in self.metrics.items()},
            "counts": self.counts,
            "failure_reasons": dict(sorted(self.failure_reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            "rules": self.rules,
            "per_row": self.per_row,
        }

    def to_markdown(self) -> str:
        """Metrics table (value and rule), then counts and the parse-failure reasons."""
        lines = [f"| {self.task} metric | value | rule |", "|---|---:|---|"]
        for name, value in self.metrics.items():
            shown = "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
            rule = self.rules.get(name) or self.rules.get(name.split("/")[0] + "/*", "")
            rule = rule.replace("|", "\\|")  # a '|' inside a regex would split the cell
            lines.append(f"| {name} | {shown} | {rule} |")
        lines += ["", "| count | n |", "|---|---:|"]
        lines += [f"| {name} | {value} |" for name, value in self.counts.items()]
        if self.failure_reasons:
            lines += ["", "| parse failure reason | rows |", "|---|---:|"]
            for reason, n in sorted(self.failure_reasons.items(), key=lambda kv: (-kv[1], kv[0])):
                shown = reason.replace("|", "\\|")  # escaped as in the rules column: "<|box_start|>" stays readable
                lines.append(f"| {shown} | {n} |")
        return "\n".join(lines) + "\n"

    def plot(self, out_dir: str | Path) -> list[Path]:
        """Draw the task's declared ``plots`` that have data; returns the files written."""
        import matplotlib

        matplotlib.use("Agg")  # files only; never needs a display
        import matplotlib.pyplot as plt

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for spec in self.plots:
            path = out / f"{self.task}_{spec.name}.png"
            if spec.kind == "confusion":
                pairs = [(row["truth_label"], row["pred_label"]) for row in self.per_row if "truth_label" in row]
                if pairs:
                    written.append(_confusion(plt, pairs, path))
                continue
            values = [v for row in self.per_row for v in _as_list(row.get(spec.key))]
            if values:
                written.append(_histogram(plt, values, path, spec.xlabel, bins=spec.bins, range_=spec.range_))
        return written


def _finite_or_none(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def _as_list(value: Any) -> list[float]:
    if value is None:
        return []
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)]


def _histogram(plt: Any, values: list[float], path: Path, xlabel: str, bins: int, range_: tuple[float, float]) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(values, bins=bins, range=range_, color="#4477aa", edgecolor="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(f"{path.stem} (n={len(values)})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _label_order(label: str) -> tuple[int, float, str]:
    """Numbers in numeric order ("2" before "10"), then words."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _confusion(plt: Any, pairs: list[tuple[str, str]], path: Path) -> Path:
    truths = sorted({t for t, _ in pairs}, key=_label_order)
    preds = sorted({p for _, p in pairs}, key=_label_order)
    counts = Counter(pairs)
    matrix = [[counts[(t, p)] for p in preds] for t in truths]
    fig, ax = plt.subplots(figsize=(1.2 * len(preds) + 2.5, 1.0 * len(truths) + 2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(preds)), preds, rotation=30, ha="right")
    ax.set_yticks(range(len(truths)), truths)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    for i, row in enumerate(matrix):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
