"""`metricsft` command-line conventions: --version, usage exit codes, closed pipes, train --help."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import subprocess
import sys

import pytest

from metricsft.cli import main
from metricsft.integrations.llamafactory.notices import yaml_scalar
from metricsft.losses import LOSS_NAMES, get_loss
from metricsft.metric_loss import FUSED_HEAD_KEY, VOCAB_KEYS


def test_version_is_the_installed_distribution_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"metricsft {importlib.metadata.version('metricsft')}\n"


@pytest.mark.parametrize("argv", [[], ["train"]], ids=["bare", "train-without-config"])
def test_nothing_to_do_prints_usage_on_stderr_and_exits_2(capsys, argv):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: metricsft ")


def test_unknown_command_names_the_closest_and_prints_usage_with_exit_2(capsys):
    assert main(["evl"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    first, _, rest = captured.err.partition("\n\n")
    assert first == "metricsft: unknown command 'evl'; choose one of: train, score, eval, data, demo; did you mean 'eval'?"
    assert rest.startswith("usage: metricsft ")


def test_help_goes_to_stdout_with_exit_0(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: metricsft [--version] COMMAND")
    for command in ("train", "score", "eval", "data", "demo"):
        assert f"\n  {command} " in out


# argparse (behind `data --help`) drops write errors of its help text itself and exits 0.
@pytest.mark.parametrize(
    ("argv", "codes"), [(["-h"], {141}), (["train", "--help"], {141}), (["data", "--help"], {0, 141})], ids=["-h", "train", "data"]
)
def test_a_closed_pipe_ends_quietly(argv, codes):
    """`metricsft -h | head -1`: the reader is gone before we write. No traceback, SIGPIPE's exit code."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "metricsft", *argv], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
    assert result.returncode in codes


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()


def test_train_help_lists_every_loss_argument_with_its_default(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("metric_loss and its metric_loss_args") :]
    # Each loss's block runs from its own line to the next loss's line.
    starts = [section.index(f"\n  {name} ") for name in LOSS_NAMES]
    blocks = [section[a:b] for a, b in zip(starts, starts[1:] + [section.index("\n  vocabulary keys")])]
    for name, block in zip(LOSS_NAMES, blocks):
        spec = get_loss(name)
        assert spec.summary in block
        fields = dataclasses.fields(spec.args_type)
        for field in fields:
            assert f"{field.name}={yaml_scalar(_default(field))}" in block.split(), (name, field.name)
        if not fields:
            assert "(no arguments)" in block
    for key in VOCAB_KEYS:
        assert key in section.split()
    assert f"{FUSED_HEAD_KEY}=auto" in section.split()


@pytest.mark.parametrize("command", ["eval", "score"])
def test_usage_line_shows_the_task_choices(command, capsys):
    from metricsft.eval.tasks import TASKS

    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert usage.startswith(f"usage: metricsft {command} ")
    assert "{" + ",".join(TASKS) + "}" in usage
