"""`metricsft eval` as a real subprocess: SIGKILL mid-run, rerun, and compare with an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metricsft.eval.runner import EvalArguments, run_eval
from tests.assets.build_assets import asset_path
from tests.eval.servers.models import build_tiny_text_model
from tests.eval.test_runner import gsm8k_rows, read_jsonl, write_rows

ROWS = 16


@pytest.fixture(scope="module")
def tiny_text_model(tmp_path_factory) -> Path:
    return build_tiny_text_model(asset_path("qwen2"), tmp_path_factory.mktemp("tiny_qwen2"))


def eval_command(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "metricsft", "eval", "gsm8k", "--model", str(model), "--backend", "hf",
            "--data", str(data), "--format", "llama", "--out", str(out), "--batch-size", "1",
            "--max-new-tokens", "8", "--no-progress", *extra]


def cached_lines(out: Path) -> int:
    path = out / "answers.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_killed_run_resumes_to_the_same_results(tiny_text_model, tmp_path):
    data = write_rows(tmp_path / "gsm8k.jsonl", gsm8k_rows(ROWS))
    killed, clean = tmp_path / "killed", tmp_path / "clean"

    process = subprocess.Popen(eval_command(tiny_text_model, data, killed), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while cached_lines(killed) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    output = process.communicate()[0].decode()
    assert process.returncode == -signal.SIGKILL, f"the run ended before it could be killed:\n{output[-2000:]}"
    done_before_kill = cached_lines(killed)
    assert 3 <= done_before_kill < ROWS and not (killed / "results.json").exists()

    resumed = subprocess.run(eval_command(tiny_text_model, data, killed, "--json"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    resumed_results = json.loads(resumed.stdout)
    assert resumed_results["run"]["from_cache"] == done_before_kill
    assert resumed_results["run"]["generated_now"] == ROWS - done_before_kill

    # The uninterrupted reference runs in-process (same code path below the CLI's argument parsing).
    clean_results = json.loads(json.dumps(run_eval(EvalArguments(
        task="gsm8k", data=str(data), family="llama", out=str(clean), backend="hf", model=str(tiny_text_model),
        batch_size=1, max_new_tokens=8, progress=False))))

    # No row lost or duplicated, every answer identical, and the same scores.
    killed_ids = [c["id"] for c in read_jsonl(killed / "answers.jsonl")]
    assert len(killed_ids) == ROWS and set(killed_ids) == {f"gsm8k/test/{i}" for i in range(ROWS)}
    answers = lambda out: {c["id"]: c["answer"] for c in read_jsonl(out / "answers.jsonl")}  # noqa: E731
    assert answers(killed) == answers(clean)
    assert resumed_results["metrics"] == clean_results["metrics"]
    assert resumed_results["per_row"] == clean_results["per_row"]
    assert read_jsonl(killed / "generated_predictions.jsonl") == read_jsonl(clean / "generated_predictions.jsonl")


def test_bad_input_is_a_clear_error(tiny_text_model, tmp_path):
    missing = subprocess.run(eval_command(tiny_text_model, tmp_path / "nope.jsonl", tmp_path / "o"),
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "nope.jsonl: no such file" in missing.stderr

    data = write_rows(tmp_path / "gsm8k.jsonl", gsm8k_rows(1))
    command = eval_command(tiny_text_model, data, tmp_path / "o")
    command[command.index("hf")] = "openai"
    no_url = subprocess.run(command, capture_output=True, text=True)
    assert no_url.returncode == 1 and "--backend openai needs --base-url" in no_url.stderr


REQUIRED = ["gsm8k", "--model", "m", "--backend", "hf", "--data", "d.jsonl", "--format", "llama", "--out", "o"]


def test_flags_default_to_the_dataclass_defaults():
    from metricsft.dataclass_cli import from_namespace
    from metricsft.eval.eval_cli import build_parser

    parsed = from_namespace(EvalArguments, build_parser().parse_args(REQUIRED))
    assert parsed == EvalArguments(task="gsm8k", data="d.jsonl", family="llama", out="o", backend="hf", model="m")
    changed = build_parser().parse_args([*REQUIRED, "--no-progress", "--extra-body", '{"top_k": 5}', "--decode", "mbr"])
    assert (changed.progress, changed.extra_body, changed.decode) == (False, {"top_k": 5}, "mbr")


def test_help_lists_every_field_with_its_help_and_default(capsys):
    import dataclasses

    from metricsft.cli import main

    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "MBR decoding: sample N answers per row" in help_text
    for spec in dataclasses.fields(EvalArguments):
        flag = {"task": "{", "family": "--format", "progress": "--no-progress"}.get(spec.name, "--" + spec.name.replace("_", "-"))
        assert flag in help_text and spec.metadata["help"] in help_text, spec.name
        if spec.default not in (dataclasses.MISSING, None, 0) and not isinstance(spec.default, bool):
            assert f"{spec.metadata['help']} (default {spec.default})" in help_text, spec.name
