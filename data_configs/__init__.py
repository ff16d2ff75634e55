"""Package data: dataset_info.json entries, example training YAMLs and DeepSpeed configs.

>>> from metricsft.data_configs import config_path
>>> config_path("dataset_info.json").name
'dataset_info.json'
"""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent


def config_path(relative: str) -> Path:
    """Absolute path of a file shipped in `data_configs/` (raises FileNotFoundError naming it)."""
    path = _ROOT / relative
    if not path.exists():
        available = sorted(str(p.relative_to(_ROOT)) for p in _ROOT.rglob("*") if p.is_file() and p.suffix in {".json", ".yaml"})
        raise FileNotFoundError(f"metricsft ships no data config {relative!r}; available: {available}")
    return path
