"""The wheel is complete: built from this checkout, installed into a fresh venv, every subpackage imports
and every data file the code looks up is inside it."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SUBPACKAGES = [
    "metricsft", "metricsft.losses", "metricsft.integrations", "metricsft.integrations.llamafactory",
    "metricsft.data", "metricsft.eval", "metricsft.eval.backends", "metricsft.eval.decoding", "metricsft.eval.metrics",
    "metricsft.eval.parsers", "metricsft.eval.tasks", "metricsft.tasks", "metricsft.templates", "metricsft.data_configs",
]  # fmt: skip


def declared_packages() -> list[str]:
    from setuptools.config.setupcfg import read_configuration

    return read_configuration(REPO / "setup.cfg")["options"]["packages"]


def test_every_source_folder_is_a_declared_package():
    roots = {"plugin": "metricsft", "eval": "metricsft.eval", "templates": "metricsft.templates",
             "data_configs": "metricsft.data_configs", "tasks": "metricsft.tasks"}  # fmt: skip
    found = set()
    for folder, package in roots.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((package, *rel)))
    assert found == set(declared_packages()) == set(SUBPACKAGES)


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_imports(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(dist)],
        check=True, cwd=tmp_path,
    )
    (wheel,) = dist.glob("metricsft-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True)
    # Dependencies (torch, transformers, llamafactory...) come from this environment's site-packages via
    # PYTHONPATH; metricsft itself must come from the wheel (.pth-based editable installs are not read there).
    code = f"""
import importlib, json, pathlib
mods = {{name: importlib.import_module(name) for name in {SUBPACKAGES!r}}}
root = pathlib.Path(mods["metricsft"].__file__).parent
files = [str(p.relative_to(root)) for p in root.rglob("*") if p.suffix in {{".yaml", ".json", ".typed"}}]
print(json.dumps({{"root": str(root), "files": sorted(files)}}))
"""
    site = sysconfig.get_paths()["purelib"]
    run = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": site, "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["root"].startswith(str(env_dir)), out["root"]
    files = set(out["files"])
    expected = {"py.typed", "templates/prompts.yaml", "data_configs/examples/tiny_cpu_sft.yaml",
                "data_configs/examples/numbers_demo.json", "data_configs/examples/dataset_info.json",
                "data_configs/dataset_info.json", "data_configs/deepspeed/ds_z3_config.json"}  # fmt: skip
    assert expected <= files, sorted(expected - files)
    shipped = {f"data_configs/tasks/{p.name}" for p in (REPO / "data_configs" / "tasks").glob("*.yaml")}
    assert shipped and shipped <= files
    assert (env_dir / "bin" / "metricsft").exists()
