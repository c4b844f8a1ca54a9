"""Run `activitylog serve` as a real child process for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class ServeProcess:
    """`activitylog serve` (or `worker`) with its own state dir, store and port."""

    def __init__(
        self, bootstrap: str, workdir: Path, *, command: str = "serve", **env: str
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = command
        self.log_path = workdir / f"{command}.log"
        self.env = dict(os.environ) | {
            "ACTIVITYLOG_KAFKA_BOOTSTRAP": bootstrap,
            "ACTIVITYLOG_STATE_DIR": str(workdir / "state"),
            "ACTIVITYLOG_CLICKHOUSE_URL": f"chdb://{workdir / 'clickhouse'}",
            "ACTIVITYLOG_API_HOST": "127.0.0.1",
            "ACTIVITYLOG_API_PORT": str(self.port),
            "ACTIVITYLOG_BATCH_MAX_SECONDS": "0.2",
        }
        self.env.pop("ACTIVITYLOG_API_KEYS", None)
        self.env |= env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> ServeProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "activitylog.cli", self.command],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait and self.command != "worker":
            wait_until(self._healthy, 90, f"serve healthy on {self.url}; log:\n{self.log()}")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"serve did not stop within {timeout}s:\n{self.log()}"
                ) from None
        return int(self.proc.returncode)

    def get(self, path: str, key: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=30)
