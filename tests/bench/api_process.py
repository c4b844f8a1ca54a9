"""`activitylog api` as a child process for the read-side benchmarks, and its peak memory.

The store they serve is filled by `tests.fixtures.datasets.fill_store`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from common.net import free_port


@contextmanager
def api_server(work: Path, store_dir: Path, api_keys: str) -> Iterator[tuple[str, int]]:
    """`activitylog api` on a free port over `store_dir`; yields (base URL, pid)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ) | {
        "ACTIVITYLOG_CLICKHOUSE_URL": f"chdb://{store_dir}",
        "ACTIVITYLOG_STATE_DIR": str(work / "state"),
        "ACTIVITYLOG_API_HOST": "127.0.0.1",
        "ACTIVITYLOG_API_PORT": str(port),
        "ACTIVITYLOG_API_KEYS": api_keys,
        "ACTIVITYLOG_LOG_LEVEL": "warning",
    }
    log = work / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "activitylog.cli", "api"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(url, proc, log)
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not become healthy within 120 s")


class RssSampler:
    """Peak VmRSS of a process, sampled every 20 ms in a thread (`rss()`: now, in bytes)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self, field: str = "VmRSS") -> int:
        """The process's `field` of /proc/PID/status, in bytes: VmRSS, or its parts RssAnon
        (the heaps) and RssFile (mapped files: the engine's code, shared and reclaimable)."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_export(url: str, key: str, fmt: str, params: dict[str, str]) -> tuple[int, int, float]:
    """(rows, bytes, seconds) of one streamed download."""
    started = time.perf_counter()
    size = 0
    with httpx.stream(
        "GET",
        f"{url}/api/v1/activity/export",
        params=params | {"format": fmt},
        headers={"Authorization": f"Bearer {key}"},
        timeout=600,
    ) as response:
        response.raise_for_status()
        rows = int(response.headers["x-activity-rows"])
        for chunk in response.iter_raw(1 << 20):
            size += len(chunk)
    return rows, size, time.perf_counter() - started
