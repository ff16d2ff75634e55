"""Summaries of the quality benchmark: mean ± std over seeds, paired bootstrap CI vs CE, error plot.

    python -m bench.quality.analysis OUT_DIR    # re-summarise finished runs (reads OUT_DIR/runs/*/record.json)

MAE is over the rows whose answer held a number (parse failures are counted separately, never as
an error of some size). The paired bootstrap resamples eval rows (the same rows for every loss):
for each loss L != ce and each replicate, the statistic is the mean over seeds s of
MAE(L, s) - MAE(ce, s) computed on the resampled rows that both runs parsed. 95% percentile interval,
2,000 replicates, fixed RNG seed. Negative = the loss has the lower error. The row bootstrap treats
the trained models as fixed, so the table also counts the seeds on which the loss beat CE.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

METRICS = ("exact_match", "mae", "median_ae", "parse_failure_rate")
BOOTSTRAP_REPLICATES = 2000


def _mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return float("nan"), float("nan")
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0


def _error_matrix(records: list[dict[str, Any]], ids: list[str]) -> np.ndarray:
    """abs errors, shape (seeds, rows); NaN where the answer had no number."""
    out = np.full((len(records), len(ids)), np.nan)
    for i, record in enumerate(records):
        by_id = {r["id"]: r["error"] for r in record["rows"]}
        for j, rid in enumerate(ids):
            error = by_id.get(rid)
            if error is not None:
                out[i, j] = abs(error)
    return out


def paired_bootstrap(loss: np.ndarray, base: np.ndarray, replicates: int = BOOTSTRAP_REPLICATES, seed: int = 0) -> dict[str, float]:
    """CI of mean_s[MAE(loss_s) - MAE(base_s)] over resampled rows (seed-paired, both parsed)."""
    rng = np.random.default_rng(seed)
    n = loss.shape[1]
    both = ~np.isnan(loss) & ~np.isnan(base)
    diff = np.where(both, np.nan_to_num(loss) - np.nan_to_num(base), 0.0)

    def statistic(index: np.ndarray) -> float:
        counts = both[:, index].sum(axis=1)
        sums = diff[:, index].sum(axis=1)
        per_seed = sums[counts > 0] / counts[counts > 0]
        return float(per_seed.mean()) if per_seed.size else float("nan")

    point = statistic(np.arange(n))
    counts, sums = both.sum(axis=1), diff.sum(axis=1)
    per_seed = [float(v) for v in np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)]
    samples = np.array([statistic(rng.integers(0, n, n)) for _ in range(replicates)])
    samples = samples[np.isfinite(samples)]
    low, high = (np.percentile(samples, [2.5, 97.5]) if samples.size else (float("nan"), float("nan")))
    return {
        "diff": point, "ci_low": float(low), "ci_high": float(high),
        "p_below_zero": float((samples < 0).mean()) if samples.size else float("nan"),
        # The row bootstrap holds the trained models fixed; this shows how much the seeds agree.
        "per_seed_diff": per_seed,
    }


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    tasks = sorted({r["task"] for r in records})
    summary: dict[str, Any] = {}
    for task in tasks:
        runs = [r for r in records if r["task"] == task]
        losses = sorted({r["loss"] for r in runs}, key=lambda name: (name != "ce", name))
        ids = [row["id"] for row in runs[0]["rows"]]
        per_loss: dict[str, Any] = {}
        for loss in losses:
            mine = sorted((r for r in runs if r["loss"] == loss), key=lambda r: r["seed"])
            entry: dict[str, Any] = {"seeds": [r["seed"] for r in mine]}
            for metric in METRICS:
                mean, std = _mean_std([r[metric] for r in mine])
                entry[metric] = {"mean": mean, "std": std}
            per_loss[loss] = entry
        if "ce" in per_loss:
            base_runs = sorted((r for r in runs if r["loss"] == "ce"), key=lambda r: r["seed"])
            for loss in losses:
                if loss == "ce":
                    continue
                mine = sorted((r for r in runs if r["loss"] == loss), key=lambda r: r["seed"])
                seeds = sorted({r["seed"] for r in mine} & {r["seed"] for r in base_runs})
                a = _error_matrix([r for r in mine if r["seed"] in seeds], ids)
                b = _error_matrix([r for r in base_runs if r["seed"] in seeds], ids)
                per_loss[loss]["mae_vs_ce"] = paired_bootstrap(a, b)
        summary[task] = {"n_eval": len(ids), "losses": per_loss}
    return summary


def _fmt(entry: dict[str, float], digits: int, percent: bool = False) -> str:
    mean, std = entry["mean"], entry["std"]
    if not math.isfinite(mean):
        return "n/a"
    scale = 100.0 if percent else 1.0
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "| task | loss | seeds | exact match (%) | MAE | median AE | parse failures (%) | ΔMAE vs ce [95% CI] | seeds with lower MAE than ce |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for task, block in summary.items():
        for loss, entry in block["losses"].items():
            delta = entry.get("mae_vs_ce")
            delta_text = "—" if delta is None else f"{delta['diff']:+.3f} [{delta['ci_low']:+.3f}, {delta['ci_high']:+.3f}]"
            seeds_text = "—" if delta is None else f"{sum(d < 0 for d in delta['per_seed_diff'])}/{len(delta['per_seed_diff'])}"
            lines.append(
                f"| {task} (n={block['n_eval']}) | {loss} | {len(entry['seeds'])} | {_fmt(entry['exact_match'], 1, True)} | "
                f"{_fmt(entry['mae'], 3)} | {_fmt(entry['median_ae'], 2)} | {_fmt(entry['parse_failure_rate'], 1, True)} | {delta_text} | {seeds_text} |"
            )
    return "\n".join(lines) + "\n"


def plot(records: list[dict[str, Any]], path: Path) -> Path:
    """Per task: the distribution (empirical CDF) of |error| per loss, all seeds pooled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in records})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        runs = [r for r in records if r["task"] == task]
        losses = sorted({r["loss"] for r in runs}, key=lambda name: (name != "ce", name))
        for loss in losses:
            errors = np.array([abs(row["error"]) for r in runs if r["loss"] == loss for row in r["rows"] if row["error"] is not None])
            total = sum(len(r["rows"]) for r in runs if r["loss"] == loss)
            if not errors.size:
                continue
            xs = np.sort(errors)
            ys = np.arange(1, xs.size + 1) / total  # parse failures keep the curve below 1
            ax.step(xs, ys, where="post", label=f"{loss} (MAE {errors.mean():.2f})")
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set_xlabel("|prediction - truth| (symlog)")
        ax.set_ylabel("share of eval rows with error <= x")
        ax.set_title(f"{task}: error distribution, seeds pooled")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def analyse(records: list[dict[str, Any]], out: Path, cfg: dict[str, Any] | None = None, wall_s: float | None = None) -> str:
    summary = summarise(records)
    table = markdown(summary)
    (out / "summary.json").write_text(json.dumps({"config": cfg, "wall_s": wall_s, "tasks": summary}, indent=2) + "\n")
    header = "" if wall_s is None else f"wall time: {wall_s / 60:.1f} min\n\n"
    (out / "summary.md").write_text(header + table)
    plot(records, out / "errors.png")
    return table


def load_records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*/record.json"))]


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    print(analyse(load_records(folder), folder))
