"""Statistics, table and plot of the quality benchmark.

    python -m bench.quality.analysis OUT_DIR    # re-summarise finished runs (OUT_DIR/runs/*/record.json)

Per (task, training-set size, loss): mean ± std over seeds of each metric. Each task has one primary
metric: linreg MAE (lower is better), box mean IoU (higher is better).

*Learned gate.* A (task, size) cell is a comparison only if CE learned it: CE's primary error (MAE, or
1 - mean IoU) must be at most ``GATE`` (0.75) x that of the best trivial baseline (`baselines.py`).
Otherwise the cell is reported as "not learned" and no loss comparison is drawn from it.

*Paired comparison with CE* (same seed = same initial weights and data order, same eval rows):
d_s = metric(loss, seed s) - metric(ce, seed s). Reported: mean d, a 95% t interval over seeds, and a
two-level bootstrap (2,000 replicates, fixed RNG): resample seeds with replacement, then, within each
drawn seed, resample eval rows with replacement (the same rows for both losses), recompute d and
average. A gain (or a loss) is claimed only if the two-level 95% interval excludes 0.

>>> two_level_bootstrap(np.ones((5, 10)), np.zeros((5, 10)), "mae")["ci"]   # doctest: +SKIP
(1.0, 1.0)
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from bench.quality.baselines import SKYLINE, TRIVIAL, baseline_texts
from bench.quality.tasks import read_jsonl

GATE = 0.75
REPLICATES = 2000
PRIMARY = {"linreg": "mae", "box": "mean_iou"}
LOWER_IS_BETTER = {"mae": True, "rmse": True, "mean_iou": False, "acc50": False}
SHOWN = {"linreg": ("mae", "rmse", "exact_match", "parse_failure_rate"),
         "box": ("mean_iou", "acc50", "parse_failure_rate")}
LOSS_ORDER = ("ce", "ntil", "dist2", "vocab_ce", "uniform_ls")


def error_of(metric: str, value: float) -> float:
    """The primary metric as an error (lower is better) for the learned gate."""
    return value if LOWER_IS_BETTER[metric] else 1.0 - value


def row_matrix(records: list[dict[str, Any]], task: str) -> np.ndarray:
    """Per-row values, shape (seeds, rows): linreg |error| (NaN = no number), box IoU (no box = 0)."""
    if task == "box":
        return np.array([[r["iou"] or 0.0 for r in rec["rows"]] for rec in records], dtype=float)
    return np.array([[math.nan if r["error"] is None else abs(r["error"]) for r in rec["rows"]] for rec in records])


def t_interval(diffs: list[float]) -> tuple[float, float]:
    if len(diffs) < 2:
        return math.nan, math.nan
    mean, sem = statistics.fmean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))
    half = float(stats.t.ppf(0.975, len(diffs) - 1)) * sem
    return mean - half, mean + half


def two_level_bootstrap(loss: np.ndarray, base: np.ndarray, metric: str, replicates: int = REPLICATES,
                        seed: int = 0) -> dict[str, Any]:
    """95% interval of mean_s[metric(loss_s) - metric(base_s)], resampling seeds, then rows within seeds."""
    rng = np.random.default_rng(seed)
    n_seeds, n_rows = loss.shape
    seed_idx = rng.integers(0, n_seeds, (replicates, n_seeds))
    row_idx = rng.integers(0, n_rows, (replicates, n_seeds, n_rows))
    drawn_loss = loss[seed_idx[:, :, None], row_idx]
    drawn_base = base[seed_idx[:, :, None], row_idx]
    with np.errstate(invalid="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", RuntimeWarning)  # all-NaN draws (no parsed row) -> NaN
        diffs = np.nanmean(drawn_loss, axis=2) - np.nanmean(drawn_base, axis=2)
        samples = np.nanmean(diffs, axis=1)
    samples = samples[np.isfinite(samples)]
    low, high = np.percentile(samples, [2.5, 97.5])
    return {"ci": (float(low), float(high)), "replicates": int(samples.size)}


def verdict(metric: str, ci: tuple[float, float], reference: str = "ce") -> str:
    """What an interval of (candidate - reference) differences shows: better, worse, or no difference."""
    low, high = ci
    if low <= 0.0 <= high or not (math.isfinite(low) and math.isfinite(high)):
        return "no difference shown"
    better = high < 0 if LOWER_IS_BETTER[metric] else low > 0
    return f"better than {reference}" if better else f"worse than {reference}"


def score_baselines(out: Path, config: dict[str, Any]) -> dict[str, dict[int, dict[str, dict[str, float]]]]:
    """Metrics of every baseline, per task and training-set size, through the benchmark's scorer."""
    from bench.quality.run import row_values, score, task_metrics

    state = json.loads((out / "config.json").read_text())
    result: dict[str, dict[int, dict[str, dict[str, float]]]] = {}
    for task, data in state["data"].items():
        eval_file = Path(data["eval_file"])
        held_out = read_jsonl(eval_file)
        result[task] = {}
        for size, name in data["train_names"].items():
            train = read_jsonl(Path(data["dataset_dir"]) / f"{name}.jsonl")
            result[task][int(size)] = {}
            for baseline, texts in baseline_texts(task, train, held_out).items():
                folder = out / "baselines" / f"{task}-n{size}-{baseline}"
                folder.mkdir(parents=True, exist_ok=True)
                predictions = folder / "generated_predictions.jsonl"
                predictions.write_text("".join(json.dumps({"prompt": r["messages"][0]["content"], "predict": t,
                                                           "label": r["messages"][1]["content"]}) + "\n"
                                               for r, t in zip(held_out, texts)))
                rows = row_values(task, score(task, predictions, eval_file, folder / "score"))
                result[task][int(size)][baseline] = task_metrics(task, rows)
    return result


def summarise(records: list[dict[str, Any]], baselines: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for task in sorted({r["task"] for r in records}):
        metric = PRIMARY[task]
        for size in sorted({r["size"] for r in records if r["task"] == task}):
            cell = [r for r in records if r["task"] == task and r["size"] == size]
            trivial = {name: m for name, m in baselines[task][size].items() if name in TRIVIAL[task]}
            best_trivial = min(trivial, key=lambda name: error_of(metric, trivial[name][metric]))
            ce_runs = {r["seed"]: r for r in cell if r["loss"] == "ce"}
            ce_error = statistics.fmean(error_of(metric, r[metric]) for r in ce_runs.values()) if ce_runs else math.nan
            learned = ce_error <= GATE * error_of(metric, trivial[best_trivial][metric])
            losses: dict[str, Any] = {}
            for loss in [name for name in LOSS_ORDER if any(r["loss"] == name for r in cell)]:
                mine = {r["seed"]: r for r in cell if r["loss"] == loss}
                entry: dict[str, Any] = {"seeds": sorted(mine)}
                for name in SHOWN[task]:
                    values = [mine[s][name] for s in sorted(mine) if math.isfinite(mine[s][name])]
                    entry[name] = {"mean": statistics.fmean(values) if values else math.nan,
                                   "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                                   "per_seed": [mine[s][name] for s in sorted(mine)]}
                paired = sorted(set(mine) & set(ce_runs))
                if loss != "ce" and paired:
                    diffs = [mine[s][metric] - ce_runs[s][metric] for s in paired]
                    boot = two_level_bootstrap(row_matrix([mine[s] for s in paired], task),
                                               row_matrix([ce_runs[s] for s in paired], task), metric)
                    entry["vs_ce"] = {
                        "metric": metric, "seeds": paired, "per_seed_diff": diffs, "diff": statistics.fmean(diffs),
                        "t_ci": t_interval(diffs), "bootstrap_ci": boot["ci"],
                        "verdict": verdict(metric, boot["ci"]) if learned else "not learned: no comparison",
                    }
                losses[loss] = entry
            summary.setdefault(task, {})[size] = {
                "n_eval": cell[0]["n_eval"], "primary": metric, "learned": learned, "best_trivial": best_trivial,
                "baselines": baselines[task][size], "losses": losses,
            }
    return summary


def summarise_mbr(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Greedy vs MBR decoding of the same trained models, per (task, size, loss): seed means of the primary
    metric under each, and the paired difference d_s = MBR - greedy (t interval over seeds, two-level bootstrap)."""
    summary: dict[str, Any] = {}
    for task in sorted({r["task"] for r in records if "mbr" in r}):
        metric = PRIMARY[task]
        for size in sorted({r["size"] for r in records if r["task"] == task and "mbr" in r}):
            for loss in LOSS_ORDER:
                runs = sorted((r for r in records if (r["task"], r["size"], r["loss"]) == (task, size, loss) and "mbr" in r),
                              key=lambda r: r["seed"])
                if not runs:
                    continue
                diffs = [r["mbr"][metric] - r[metric] for r in runs]
                ci = two_level_bootstrap(row_matrix([r["mbr"] for r in runs], task), row_matrix(runs, task), metric)["ci"]
                summary.setdefault(task, {}).setdefault(size, {})[loss] = {
                    "metric": metric, "seeds": [r["seed"] for r in runs], "samples": runs[0]["mbr"]["samples"],
                    "rule": runs[0]["mbr"]["rule"], "greedy": statistics.fmean(r[metric] for r in runs),
                    "mbr": statistics.fmean(r["mbr"][metric] for r in runs), "diff": statistics.fmean(diffs),
                    "t_ci": t_interval(diffs), "bootstrap_ci": ci,
                    "verdict": verdict(metric, ci, "greedy"),
                }
    return summary


def mbr_markdown(summary: dict[str, Any]) -> str:
    if not summary:
        return ""
    lines = ["**Greedy vs MBR decoding** (the same trained models; MBR = N answers sampled at temperature 1, "
             "reduced by `metricsft eval --decode mbr`'s rule; Δ = MBR − greedy, paired by seed)", "",
             "| task | size | loss | seeds | N, rule | greedy | MBR | Δ | 95% t (seeds) | 95% bootstrap (seeds, rows) | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for task, sizes in summary.items():
        for size, losses in sizes.items():
            for loss, e in losses.items():
                lines.append(f"| {task} ({e['metric']}) | {size} | {loss} | {len(e['seeds'])} | {e['samples']}, {e['rule']} | "
                             f"{e['greedy']:.3f} | {e['mbr']:.3f} | {e['diff']:+.4f} | "
                             f"[{e['t_ci'][0]:+.4f}, {e['t_ci'][1]:+.4f}] | "
                             f"[{e['bootstrap_ci'][0]:+.4f}, {e['bootstrap_ci'][1]:+.4f}] | {e['verdict']} |")
    return "\n".join(lines) + "\n"


def _mean_std(entry: dict[str, Any], digits: int, scale: float = 1.0) -> str:
    if not math.isfinite(entry["mean"]):
        return "n/a"
    return f"{entry['mean'] * scale:.{digits}f} ± {entry['std'] * scale:.{digits}f}"


def markdown(summary: dict[str, Any]) -> str:
    blocks = []
    for task, sizes in summary.items():
        metric = PRIMARY[task]
        shown = SHOWN[task]
        digits = {"mae": 3, "rmse": 3, "mean_iou": 3, "acc50": 1, "exact_match": 1, "parse_failure_rate": 1}
        percent = {"acc50", "exact_match", "parse_failure_rate"}
        header = ["size", "loss / baseline", "seeds", *[f"{m}{' (%)' if m in percent else ''}" for m in shown],
                  f"Δ{metric} vs ce", "95% t (seeds)", "95% bootstrap (seeds, rows)", "verdict"]
        lines = [f"**{task}** (primary metric: {metric}; eval rows per run: "
                 f"{next(iter(sizes.values()))['n_eval']})", "",
                 "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for size, cell in sizes.items():
            gate = "learned" if cell["learned"] else "**not learned**"
            for loss, entry in cell["losses"].items():
                values = [_mean_std(entry[m], digits[m], 100.0 if m in percent else 1.0) for m in shown]
                vs = entry.get("vs_ce")
                if vs is None:
                    extra = ["—", "—", "—", gate if loss == "ce" else "—"]
                else:
                    extra = [f"{vs['diff']:+.4f}", f"[{vs['t_ci'][0]:+.4f}, {vs['t_ci'][1]:+.4f}]",
                             f"[{vs['bootstrap_ci'][0]:+.4f}, {vs['bootstrap_ci'][1]:+.4f}]", vs["verdict"]]
                lines.append(f"| {size} | {loss} | {len(entry['seeds'])} | " + " | ".join(values + extra) + " |")
            for name, values in cell["baselines"].items():
                kind = "trivial" if name in TRIVIAL[task] else "skyline"
                cells = [f"{values[m] * (100.0 if m in percent else 1.0):.{digits[m]}f}" for m in shown]
                lines.append(f"| {size} | *{name}* ({kind}) | — | " + " | ".join(cells) + " | — | — | — | — |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def plot(summary: dict[str, Any], path: Path) -> Path:
    """Primary metric vs training-set size per loss: seed means (lines) and every seed (dots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summary), figsize=(6 * len(summary), 4.4), squeeze=False)
    for ax, (task, sizes) in zip(axes[0], summary.items()):
        metric = PRIMARY[task]
        xs = sorted(sizes)
        for index, loss in enumerate(LOSS_ORDER):
            points = [(size, sizes[size]["losses"][loss][metric]) for size in xs if loss in sizes[size]["losses"]]
            if not points:
                continue
            color = f"C{index}"
            jitter = 1.0 + 0.04 * (index - 2)  # spread the seeds' dots of different losses apart
            for size, entry in points:
                ax.scatter([size * jitter] * len(entry["per_seed"]), entry["per_seed"], s=12, alpha=0.45, color=color)
            style = "-o" if len(points) > 1 else "D"
            ax.plot([s * jitter for s, _ in points], [e["mean"] for _, e in points], style, color=color, label=loss)
        best = [sizes[s]["baselines"][sizes[s]["best_trivial"]][metric] for s in xs]
        ax.plot(xs, best, "--", color="grey", label="best trivial baseline")
        for name, line in zip(SKYLINE[task], (":", "-.")):
            ax.plot(xs, [sizes[s]["baselines"][name][metric] for s in xs], line, color="black", label=f"{name} (skyline)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(s) for s in xs])
        ax.set_xlabel("training examples (same number of steps at every size)")
        ax.set_ylabel(f"{metric} ({'lower' if LOWER_IS_BETTER[metric] else 'higher'} is better)")
        ax.set_title(f"{task}: {metric} vs data, mean and seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def analyse(records: list[dict[str, Any]], out: Path, cfg: dict[str, Any] | None = None) -> str:
    """Write summary.json, summary.md, data_efficiency.png, runs.csv and rows.jsonl under `out`; return the table."""
    state = json.loads((out / "config.json").read_text())
    parts = out / "invocations.jsonl"
    wall_s = sum(json.loads(line)["wall_s"] for line in parts.read_text().splitlines()) if parts.exists() else None
    summary = summarise(records, score_baselines(out, state["config"]))
    mbr = summarise_mbr(records)
    table = markdown(summary) + ("\n" + mbr_markdown(mbr) if mbr else "")
    compute_s = sum(r["train_s"] + r["eval_s"] for r in records)
    (out / "summary.json").write_text(json.dumps(
        {"config": cfg or state["config"], "wall_s": wall_s, "run_seconds_total": compute_s, "gate": GATE,
         "tasks": {t: {str(s): c for s, c in sizes.items()} for t, sizes in summary.items()},
         "greedy_vs_mbr": {t: {str(s): c for s, c in sizes.items()} for t, sizes in mbr.items()}}, indent=2) + "\n")
    header = f"runs: {len(records)}; seconds inside runs (sum over workers): {compute_s:.0f}"
    if wall_s is not None:
        header += f"; wall time (all invocations): {wall_s / 60:.1f} min"
    (out / "summary.md").write_text(header + "\n\n" + table)
    plot(summary, out / "data_efficiency.png")
    write_tables(out, records)
    return table


def write_tables(out: Path, records: list[dict[str, Any]]) -> None:
    import csv

    fields = ("task", "size", "loss", "seed", "n_eval", "steps", "mae", "rmse", "exact_match", "mean_iou", "acc50",
              "parse_failure_rate", "mbr_mae", "mbr_mean_iou", "train_loss", "train_s", "eval_s")
    with (out / "runs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({**r, **{f"mbr_{k}": v for k, v in r.get("mbr", {}).items() if k in ("mae", "mean_iou")}}
                         for r in records)
    with (out / "rows.jsonl").open("w") as handle:
        for record in records:
            for row in record["rows"]:
                keys = {k: record[k] for k in ("task", "size", "loss", "seed")}
                handle.write(json.dumps({**keys, **row}) + "\n")


def load_records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*/record.json"))]


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    print(analyse(load_records(folder), folder))
