"""Start a test server as a real subprocess, wait for its `listening on URL` line, always stop it."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Iterator, Sequence


@contextmanager
def running_server(
    command: Sequence[str], ready_timeout: float = 300.0, env: dict | None = None, base_url: str | None = None
) -> Iterator[str]:
    """Yield the server's base URL: the one it printed (`listening on http://127.0.0.1:PORT/v1`), or
    `base_url` once `GET base_url/models` answers 200 (servers such as vLLM's that print no such line)."""
    process = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})}, start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []

    def pump() -> None:  # keep draining output so the server never blocks on a full pipe
        for line in process.stdout:  # type: ignore[union-attr]
            log.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + ready_timeout
        url = None
        while url is None:
            if process.poll() is not None and (base_url is not None or lines.empty()):
                raise RuntimeError(f"server exited with {process.returncode}:\n{''.join(log)[-4000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not ready after {ready_timeout}s:\n{''.join(log)[-4000:]}")
            if base_url is not None:
                url = base_url if _answers(base_url + "/models") else None
                time.sleep(0 if url else 1.0)
                continue
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line.startswith("listening on "):
                url = line.split()[-1]
        yield url
    finally:
        # The server runs in its own session: stop its whole process group (it may have workers).
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def free_loopback_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
