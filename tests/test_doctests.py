"""Every docstring example in the package runs (torchmetrics-style doctests in CI), and docs point only
at files that ship with the repository."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOP_PACKAGES = ("metricsft", "metricsft.eval", "metricsft.tasks", "metricsft.templates", "metricsft.data_configs")


def _modules() -> list[str]:
    names = set(TOP_PACKAGES)
    for top in TOP_PACKAGES:
        package = importlib.import_module(top)
        names.update(info.name for info in pkgutil.walk_packages(package.__path__, f"{top}."))
    return sorted(names)


MODULES = _modules()


def test_the_walk_finds_every_subpackage() -> None:
    for expected in ("metricsft.losses.ntil", "metricsft.eval.tasks.base", "metricsft.templates.rows", "metricsft.data.convert",
                     "metricsft.tasks.gsm8k"):
        assert expected in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


# Every folder of the project (this test file names the pattern, so it is left out).
CHECKED = ("templates", "plugin", "eval", "tasks", "data_configs", "bench", "tests")
OUTSIDE_FILES = re.compile(r"\b(DESIGN\.md|contracts\.md)\b")


def test_no_references_to_files_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for folder in CHECKED
        for path in sorted((REPO / folder).rglob("*.py"))
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if OUTSIDE_FILES.search(line)
    ]
    assert not offenders, f"references to files that are not in the repository: {offenders}"
