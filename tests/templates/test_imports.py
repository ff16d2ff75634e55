"""Import weight and shape: the codecs, parsers and converters load without torch, and the packages
that were split to break import cycles stay acyclic."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_light_packages_import_without_torch() -> None:
    code = (
        "import sys\n"
        "import metricsft, metricsft.templates, metricsft.templates.rows, metricsft.eval.parsers\n"
        "import metricsft.eval.tasks, metricsft.data.convert\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'metricsft.losses') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_root_names_still_resolve() -> None:
    import metricsft

    assert set(metricsft.__all__) <= set(dir(metricsft))
    assert metricsft.__version__
    try:
        metricsft.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("an unknown attribute must raise AttributeError")


def _relative_imports(path: Path) -> set[str]:
    """Sibling modules ``path`` imports at run time (top level or inside functions; not for type checkers)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner) for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [node])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [])):
            return found
    return None


def test_no_import_cycles_between_sibling_modules() -> None:
    for folder in ("plugin/data", "templates", "eval/tasks", "eval/parsers", "tasks"):
        modules = {p.stem: p for p in (REPO / folder).glob("*.py")}
        graph = {name: _relative_imports(path) & set(modules) for name, path in modules.items()}
        assert _cycle(graph) is None, f"{folder}: import cycle {' -> '.join(_cycle(graph) or [])}"


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_lazy_names_are_the_public_names() -> None:
    import metricsft

    assert sorted(metricsft.__all__) == sorted(metricsft._LAZY)
