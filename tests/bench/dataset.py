"""A month of stored activity, and an API serving it, for the read-side benchmarks.

Simulates up to `SEED_EVENTS` events, normalizes and inserts them, then
multiplies them inside ClickHouse under new event ids until `rows` exist:
a million realistic rows in seconds rather than minutes.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

from common.net import free_port
from common.store import Store
from processors.batch import Consumed, process_batch, to_columns
from producers.simulate import SimulationSpec, simulate
from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_TABLE

SEED_EVENTS = 100_000
MONTH_END = datetime(2026, 11, 1, tzinfo=UTC)
INSERT_BATCH = 50_000


def fill_store(store: Store, rows: int, seed: int) -> None:
    """Insert `rows` activity rows over the 30 days before `MONTH_END`."""
    events = min(SEED_EVENTS, rows)
    spec = SimulationSpec(
        seed=seed, start=MONTH_END - timedelta(days=30), end=MONTH_END, events=events
    )
    messages = [
        Consumed(topic, 0, i, None, orjson.dumps(event))
        for i, (topic, event) in enumerate(simulate(spec))
    ]
    result = process_batch(messages, datetime.now(UTC), 10**7)
    for i in range(0, len(result.rows), INSERT_BATCH):
        chunk = result.rows[i : i + INSERT_BATCH]
        store.insert_columns(ACTIVITY_TABLE, to_columns(chunk), ACTIVITY_COLUMN_NAMES)
    copies = max(0, -(-rows // events) - 1)
    if copies:  # more rows than simulated: copies of them under new event ids
        columns = ", ".join(
            "concat(event_id, '-', toString(n.number)) AS event_id" if c == "event_id" else c
            for c in ACTIVITY_COLUMN_NAMES
        )
        store.command(
            f"INSERT INTO {ACTIVITY_TABLE} SELECT {columns} FROM {ACTIVITY_TABLE} "  # noqa: S608
            f"CROSS JOIN numbers(1, {copies}) AS n"
        )


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

    def rss(self) -> int:
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
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
