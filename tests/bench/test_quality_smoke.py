"""The quality benchmark's `--smoke` mode runs end to end (real SmolLM2, real LLaMA-Factory training,
real `metricsft eval`) and writes finite numbers. It never asserts which loss is better."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_bootstrap_and_table_on_synthetic_records(tmp_path):
    """Analysis alone (fast): paired bootstrap sign, Markdown table, plot file."""
    from bench.quality.analysis import analyse, summarise

    def record(loss, seed, shift):
        rows = [{"id": f"r{i}", "gold": float(i), "error": (None if i == 0 else float(shift + (i % 3))), "ok": False}
                for i in range(40)]
        abs_errors = [abs(r["error"]) for r in rows if r["error"] is not None]
        return {"task": "t", "loss": loss, "seed": seed, "exact_match": 0.0, "mae": sum(abs_errors) / len(abs_errors),
                "median_ae": sorted(abs_errors)[len(abs_errors) // 2], "parse_failure_rate": 1 / 40, "rows": rows}

    records = [record("ce", s, 2.0) for s in range(3)] + [record("ntil", s, 1.0) for s in range(3)]
    summary = summarise(records)
    delta = summary["t"]["losses"]["ntil"]["mae_vs_ce"]
    assert delta["diff"] == pytest.approx(-1.0)
    assert delta["ci_low"] <= delta["diff"] <= delta["ci_high"]
    table = analyse(records, tmp_path)
    assert "| t (n=40) | ntil | 3 |" in table
    assert (tmp_path / "errors.png").stat().st_size > 0
    assert json.loads((tmp_path / "summary.json").read_text())["tasks"]["t"]["n_eval"] == 40


@pytest.mark.slow
def test_smoke_benchmark_runs_and_writes_finite_results(tmp_path, smollm2_path):
    # smollm2_path: the asset is built by .ci/setup.sh --test-assets; a build failure fails the test
    out = tmp_path / "quality-smoke"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.quality.run", "--smoke", "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    with (out / "runs.csv").open() as handle:
        runs = list(csv.DictReader(handle))
    assert {(r["task"], r["loss"]) for r in runs} == {
        (t, l) for t in ("arithmetic", "linreg") for l in ("ce", "ntil", "dist2")
    }
    for run in runs:
        assert int(run["steps"]) > 0
        assert math.isfinite(float(run["train_loss"]))
        assert 0.0 <= float(run["exact_match"]) <= 1.0
        assert 0.0 <= float(run["parse_failure_rate"]) <= 1.0
        if float(run["parse_failure_rate"]) < 1.0:  # MAE exists only where some answer held a number
            assert math.isfinite(float(run["mae"]))
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["tasks"]) == {"arithmetic", "linreg"}
    assert (out / "summary.md").read_text().startswith("wall time")
    assert (out / "errors.png").stat().st_size > 0
    assert (out / "rows.jsonl").stat().st_size > 0
