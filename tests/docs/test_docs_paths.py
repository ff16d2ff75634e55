"""Every example path the README or a `--help` text names exists.

Paths under `examples/` are LLaMA-Factory's: they must exist in the pinned release, as recorded in
`llamafactory_0.9.5_examples.txt` (its `git ls-tree` of examples/ at the v0.9.5 tag). Every other
path must exist in this repository. Bare `*.yaml` names in README backticks (e.g. one of the
per-task configs) must exist under `data_configs/` or be one of LLaMA-Factory's example files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from metricsft.cli import main
from metricsft.integrations.llamafactory.guards import SUPPORTED_LLAMAFACTORY_MIN

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
LLAMAFACTORY_EXAMPLES_FILE = HERE / "llamafactory_0.9.5_examples.txt"

# Repository folders a doc may point into, plus LLaMA-Factory's examples/ tree.
PATH = re.compile(r"(?<![\w./-])((?:examples|data_configs|bench|tests|templates|plugin|eval|tasks|\.ci)/[\w.{},/-]*)")
BARE_YAML = re.compile(r"`([\w.-]+\.ya?ml)`")
HELP_COMMANDS = [["--help"], ["train", "--help"], ["data", "convert", "--help"], ["score", "--help"], ["eval", "--help"]]


def llamafactory_examples() -> set[str]:
    lines = LLAMAFACTORY_EXAMPLES_FILE.read_text(encoding="utf-8").splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def expand_braces(path: str) -> list[str]:
    """`a/{x,y}_b.yaml` -> [`a/x_b.yaml`, `a/y_b.yaml`] (one level, as the README writes them)."""
    match = re.search(r"\{([^{}]*)\}", path)
    if match is None:
        return [path]
    return [out for alt in match.group(1).split(",") for out in expand_braces(path[: match.start()] + alt + path[match.end() :])]


def named_paths(text: str) -> list[str]:
    """Repository / LLaMA-Factory paths named in `text`, braces expanded; `--out DIR` targets skipped."""
    paths = []
    for match in PATH.finditer(text):
        if text[: match.start()].rstrip().endswith("--out"):
            continue  # an output folder the command creates (e.g. `--out eval/gsm8k`)
        paths += expand_braces(match.group(1).rstrip(".,:;)"))
    return paths


def missing(paths: list[str], lf_examples: set[str]) -> list[str]:
    gone = []
    for path in paths:
        if path.startswith("examples/"):
            folder = path.rstrip("/") + "/"
            if path not in lf_examples and not any(entry.startswith(folder) for entry in lf_examples):
                gone.append(path)
        elif not (REPO_ROOT / path).exists():
            gone.append(path)
    return gone


def help_text(argv: list[str], capsys) -> str:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse-based sub-commands exit themselves after --help
        code = exit_.code
    assert code in (0, None), (argv, code)
    return capsys.readouterr().out


def test_the_fixture_is_the_supported_llamafactory_release():
    header = LLAMAFACTORY_EXAMPLES_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert f"LLaMA-Factory v{SUPPORTED_LLAMAFACTORY_MIN} " in header
    examples = llamafactory_examples()
    assert "examples/train_lora/qwen3vl_lora_sft.yaml" in examples
    assert "examples/train_lora/qwen2vl_lora_sft.yaml" not in examples  # removed upstream before 0.9.5


def test_readme_paths_exist():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    paths = named_paths(text)
    assert "data_configs/examples/llava_lora_sft.yaml" in paths  # the brace expansion works on the real README
    assert missing(paths, llamafactory_examples()) == []


def test_bare_yaml_names_in_the_readme_exist():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    ours = {path.name for path in (REPO_ROOT / "data_configs").rglob("*.y*ml")}
    theirs = {Path(entry).name for entry in llamafactory_examples()}
    names = BARE_YAML.findall(text)
    assert [name for name in names if name not in ours | theirs] == []


@pytest.mark.parametrize("argv", HELP_COMMANDS, ids=" ".join)
def test_help_paths_exist(argv, capsys):
    assert missing(named_paths(help_text(argv, capsys)), llamafactory_examples()) == []


def test_the_check_catches_a_stale_path():
    """The README of issue 15 named LLaMA-Factory files that 0.9.5 no longer ships."""
    stale = "Against `examples/train_lora/qwen2vl_lora_sft.yaml` or examples/train_lora/qwen2_5vl_lora_sft.yaml."
    assert missing(named_paths(stale), llamafactory_examples()) == [
        "examples/train_lora/qwen2vl_lora_sft.yaml",
        "examples/train_lora/qwen2_5vl_lora_sft.yaml",
    ]
    assert missing(named_paths("see `data_configs/examples/{llava,nope}_lora_sft.yaml`"), set()) == [
        "data_configs/examples/nope_lora_sft.yaml"
    ]
