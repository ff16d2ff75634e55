"""Converted files get the mode the user's umask gives any new file (not tempfile's fixed 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from metricsft.data.writer import write_dataset

ROWS = [{"messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]}]


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_dataset_and_info_follow_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    saved = os.umask(umask)
    try:
        data_path, info_path = write_dataset(tmp_path, "sums", ROWS)
        # Merging a second entry rewrites dataset_info.json: it must keep following the umask too.
        write_dataset(tmp_path, "sums_again", ROWS)
    finally:
        os.umask(saved)
    for path in (data_path, info_path, tmp_path / "sums_again.jsonl"):
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset_info.json", "sums.jsonl", "sums_again.jsonl"]
