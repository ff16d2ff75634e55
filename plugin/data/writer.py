"""Write a converted dataset atomically: ``OUT/<name>.jsonl`` plus its ``dataset_info.json`` entry.

Both files are written to a temporary file in the same folder and renamed into place, so an
interrupted conversion never leaves half a dataset; an existing ``dataset_info.json`` is merged
(other entries are kept, this one is replaced).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Iterable

from .common import ConversionError


def dataset_info_entry(file_name: str, has_images: bool) -> dict[str, Any]:
    """The LLaMA-Factory ``dataset_info.json`` entry for a sharegpt file written by us."""
    columns = {"messages": "messages"}
    if has_images:
        columns["images"] = "images"
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": columns,
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    }


def _atomic_write(path: Path, lines: Iterable[str]) -> None:
    # Not tempfile.NamedTemporaryFile: it creates files with mode 0600 whatever the umask, and the
    # rename would carry that mode to the dataset, unreadable for a teammate or a container user.
    # Creating the file with 0666 lets the umask decide, as for any file the user writes (0644 at 022).
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_dataset(out_dir: Path, name: str, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    """Write rows and merge the dataset_info entry; returns (jsonl path, dataset_info path)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    info_path = out_dir / "dataset_info.json"
    info: dict[str, Any] = {}
    if info_path.exists():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ConversionError(f"{info_path}:{err.lineno}: existing dataset_info.json is not valid JSON ({err.msg})") from err
        if not isinstance(info, dict):
            raise ConversionError(f"{info_path}: existing dataset_info.json is not a JSON object")
    data_path = out_dir / f"{name}.jsonl"
    _atomic_write(data_path, (json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    info[name] = dataset_info_entry(data_path.name, has_images=any("images" in row for row in rows))
    _atomic_write(info_path, [json.dumps(info, indent=2, ensure_ascii=False) + "\n"])
    return data_path, info_path
