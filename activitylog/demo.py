"""`activitylog demo`: the whole path end to end on a fresh machine.

Starts a local Kafka, runs `activitylog serve` as a child process, publishes
a realistic month of partner actions and orders, waits until every event is
stored, exports the most recent month to CSV, then stops what it started.
Everything lives under `<state_dir>/demo`, which is reset at each run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import typer

from activitylog.devstack.kafka import KafkaStack
from common.errors import ActivityLogError, ApiUnavailable
from common.settings import Settings
from producers.publisher import ActivityPublisher
from producers.simulate import SimulationSpec, simulate
from query.client import HttpReader, Request
from query.manifests.files import manifest_path_for, write_manifest

DEMO_EVENTS = 3000
DEMO_SEED = 7


def _say(message: str) -> None:
    typer.echo(f"==> {message}")


def run_demo(base: Settings, events: int = DEMO_EVENTS) -> Path:
    """Run the demo; returns the CSV written under `exports/`."""
    demo_dir = base.state_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    settings = base.model_copy(
        update={
            "state_dir": demo_dir,
            "clickhouse_url": f"chdb://{demo_dir / 'clickhouse'}",
            "api_keys": None,
        }
    )
    stack = KafkaStack(settings)
    server: subprocess.Popen[bytes] | None = None
    try:
        _say(f"starting Apache Kafka (KRaft) on {settings.kafka_bootstrap}")
        status = stack.up()
        _say(f"Kafka is up (pid {status.pid})")

        _say(f"starting `activitylog serve` (worker + API on {settings.api_base_url})")
        server = _start_serve(settings)
        _wait_healthy(settings.api_base_url, server, timeout=90)

        req = Request()
        window = req.time_range()
        now = datetime.now(UTC)
        spec = SimulationSpec(seed=DEMO_SEED, start=window.start, end=now, events=events)
        _say(f"publishing {events} simulated events ({window.label()[0]} .. {window.label()[1]})")
        with ActivityPublisher(settings.kafka_bootstrap) as publisher:
            for topic, event in simulate(spec):
                publisher.publish(topic, event)
        _say(f"{publisher.report.delivered} events acknowledged by Kafka")

        reader = HttpReader(settings.api_base_url, None)
        try:
            stored = _wait_stored(reader, req, events, timeout=180)
            _say(f"{stored} activity rows stored in ClickHouse")
            first, last = window.label()
            path = Path("exports") / f"activity-{first}_{last}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            download = reader.export(req, "csv", "en")
            with path.open("wb") as out:
                for chunk in download:
                    out.write(chunk)
                    size += len(chunk)
            # The export's manifest beside it: `activitylog verify` checks the pair.
            sealed = download.manifest()
            if sealed is None:
                raise ActivityLogError(f"the server gave no manifest for {path}")
            manifest = write_manifest(sealed, manifest_path_for(path))
        finally:
            reader.close()
        _say(f"exported the most recent month to {path} ({stored} rows, {size} bytes)")
        _say(f"its manifest: {manifest} (check with `activitylog verify {path}`)")
        return path
    finally:
        if server is not None:
            _say("stopping `activitylog serve`")
            _stop(server)
        _say("stopping Kafka")
        stack.down()


def _start_serve(settings: Settings) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env |= {
        "ACTIVITYLOG_STATE_DIR": str(settings.state_dir),
        "ACTIVITYLOG_CLICKHOUSE_URL": settings.clickhouse_url,
        "ACTIVITYLOG_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "ACTIVITYLOG_API_HOST": settings.api_host,
        "ACTIVITYLOG_API_PORT": str(settings.api_port),
    }
    env.pop("ACTIVITYLOG_API_KEYS", None)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    log = (settings.state_dir / "serve.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "activitylog.cli", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_healthy(base_url: str, server: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ActivityLogError(
                f"`activitylog serve` exited with code {server.returncode}; see its log"
            )
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ApiUnavailable(f"`activitylog serve` did not become healthy within {timeout:.0f}s")


def _wait_stored(reader: HttpReader, req: Request, expected: int, timeout: float) -> int:
    """Count the stored rows page by page until every event is there (deadline, not a sleep).

    Pages rather than an export: every export is itself audited (an
    `export.create` activity), so polling by export would add rows.
    """
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count, cursor = 0, None
        while True:
            page = reader.page(req, 1000, cursor)
            count += len(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        if count >= expected:
            return count
        time.sleep(1.0)
    raise ActivityLogError(f"only {count} of {expected} events were stored within {timeout:.0f}s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
