"""`metricsft demo` (README's first command) runs end to end and logs the metric loss components."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_command_trains_and_logs_components(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "metricsft", "demo", "--loss", "ntil", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,  # not the repo root: packaged files only
    )
    assert run.returncode == 0, run.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "output" / "trainer_log.jsonl").read_text().splitlines()]
    logged = [r for r in records if "loss" in r]
    assert logged and all(r["metricsft/ntil"] > 0 for r in logged)
    settings = json.loads((tmp_path / "output" / "metricsft_config.json").read_text())
    assert settings["metric_loss"] == "ntil"
