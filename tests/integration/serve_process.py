"""Run `activitylog serve` as a real child process for integration tests."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
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

    def logged(self, text: str) -> bool:
        """Whether the whole log (not just its tail) contains `text`."""
        try:
            return text in self.log_path.read_text(errors="replace")
        except OSError:
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


_STORE_COUNTS = """
import json, sys
from activitylog.store import Store
store = Store.open("chdb://" + sys.argv[1], migrate=False)
where = " WHERE partner_id = {p:String}" if sys.argv[2] else ""
params = {"p": sys.argv[2]} if sys.argv[2] else None
final = store.query_rows("SELECT count(), uniqExact(event_id) FROM activity FINAL" + where, params)
raw = store.query_rows("SELECT count() FROM activity" + where, params)
ids = store.query_rows("SELECT DISTINCT event_id FROM activity" + where, params)
print(json.dumps({"final": final[0][0], "unique": final[0][1], "raw": raw[0][0],
                  "ids": sorted(r[0] for r in ids)}))
"""


def store_counts(store_dir: Path, partner: str = "") -> dict[str, Any]:
    """Open a stopped process's chDB store in a child process (one engine per process).

    Returns `final` (count() with FINAL), `unique` (distinct event ids), `raw`
    (rows before deduplication) and the sorted `ids`, optionally for one partner.
    """
    import json

    out = subprocess.run(
        [sys.executable, "-c", _STORE_COUNTS, str(store_dir), partner],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(out.stdout.decode().strip().splitlines()[-1]))


def committed_and_end_offsets(bootstrap: str, group: str) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """`group`'s committed offsets and the end offsets of the v1 source topics, by partition."""
    from kafka import KafkaConsumer, TopicPartition

    from schemas.topics import SOURCE_TOPICS

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = [
            TopicPartition(t, p)
            for t in SOURCE_TOPICS
            for p in consumer.partitions_for_topic(t) or ()
        ]
        committed = {tp: consumer.committed(tp) for tp in parts}
        return committed, dict(consumer.end_offsets(parts))
    finally:
        consumer.close(autocommit=False)


class TmpfsUnavailable(RuntimeError):
    """A tmpfs cannot be mounted here: mounting needs root (CAP_SYS_ADMIN)."""


class SmallTmpfs:
    """A tmpfs of `megabytes` mounted on `directory` at once, unmounted on leaving `with`.

    Filling it up makes ClickHouse fail with its own out-of-space error: a real
    store failure, not a fake. Raises `TmpfsUnavailable` (with mount's reason)
    when mounting is not allowed.
    """

    def __init__(self, directory: Path, megabytes: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        mount = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(directory)],
            capture_output=True,
            text=True,
        )
        if mount.returncode != 0:
            raise TmpfsUnavailable(
                f"cannot mount a tmpfs here (needs root): {mount.stderr.strip()}"
            )
        self.directory = directory

    def __enter__(self) -> Path:
        return self.directory

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        subprocess.run(["umount", "-l", str(self.directory)], check=False)


def fill_until_full(directory: Path) -> Path:
    """Write a filler file until the filesystem is full; return it (unlink it to free the space).

    Appends, unbuffered: calling it again tops the filler up when something
    (ClickHouse removing a failed part, say) has freed a little space since.
    """
    filler = directory / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("ab", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler
