"""Export jobs against a real server process over a real chDB store.

The store is filled once (in a child process: one chDB engine per process),
then `activitylog api` runs over it as a child process, started and stopped
as a crash or a deploy would: killed -9 in the middle of a job, stopped
after it, restarted with a short retention. `api` rather than `serve`: the
jobs run in the API, and without the worker no other test's events on the
shared broker can land in the range while two exports are compared.
"""

from __future__ import annotations

import csv
import hashlib
import io
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from query.exports.formats import EXPORT_MEDIA_TYPES
from query.http.routes.jobs import MAX_ACTIVE_JOBS
from tests.fixtures.datasets import fill_in_child
from tests.fixtures.serve import ServeProcess, wait_until
from tests.fixtures.workbooks import openpyxl_sheets

ROWS = 150_000
RANGE = {"from": "2026-10-02", "to": "2026-10-31", "tz": "UTC"}
ADMIN, KEY_A, KEY_B = "k-admin", "k-partner-a", "k-partner-b"
FINAL = {"done", "failed", "cancelled", "expired", "deleted"}


@dataclass(frozen=True)
class Filled:
    workdir: Path
    partner_a: str
    partner_b: str

    @property
    def pause_file(self) -> Path:
        """While it exists, the server's jobs hold after each chunk: the tests' hold on a job."""
        return self.workdir / "pause-export-jobs"

    def server(self, **env: str) -> ServeProcess:
        keys = f"{ADMIN}=*,{KEY_A}={self.partner_a},{KEY_B}={self.partner_b}"
        return ServeProcess(
            "127.0.0.1:1",  # `api` runs no worker and never connects to Kafka
            self.workdir,
            command="api",
            ACTIVITYLOG_API_KEYS=keys,
            ACTIVITYLOG_EXPORT_JOBS_PAUSE_FILE=str(self.pause_file),
            **env,
        )


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    """A store of ROWS rows over October 2026, and its two busiest partners."""
    workdir = tmp_path_factory.mktemp("export-jobs")
    # 20,000 simulated events, then copied under new ids inside ClickHouse: fast
    a, b = fill_in_child(workdir / "clickhouse", ROWS, seed=8, seed_events=20_000)
    return Filled(workdir, a, b)


@pytest.fixture
def running(filled: Filled) -> Iterator[ServeProcess]:
    server = filled.server().start()
    try:
        yield server
    finally:
        server.stop()
        filled.pause_file.unlink(missing_ok=True)


def _call(server: ServeProcess, method: str, path: str, key: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} | kw.pop("headers", {})
    return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=60, **kw)


def _status(server: ServeProcess, job_id: str, key: str = KEY_A) -> dict[str, Any]:
    response = _call(server, "GET", f"/api/v1/exports/{job_id}", key)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait_for(
    server: ServeProcess, job_id: str, ok: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """The job's status once `ok` holds for it (polled every 50 ms, 120 s at most)."""

    def check() -> dict[str, Any] | None:
        status = _status(server, job_id)
        return status if ok(status) else None

    found: dict[str, Any] = wait_until(check, 120, f"job {job_id}: {what}", every=0.05)
    return found


def _wait_final(server: ServeProcess, job_id: str) -> dict[str, Any]:
    return _wait_for(server, job_id, lambda s: s["state"] in FINAL, "finished")


def _start_job(server: ServeProcess, fmt: str) -> dict[str, Any]:
    response = _call(server, "POST", "/api/v1/exports", KEY_A, json=RANGE | {"format": fmt})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == body["url"] == f"/api/v1/exports/{body['id']}"
    assert body["state"] in ("queued", "running")
    return body


def test_a_job_survives_a_crash_and_a_restart_and_resumes_a_range_download(
    filled: Filled,
) -> None:
    server = filled.server().start()
    try:
        # Crash in the middle of the job: held after its first chunk, then killed -9.
        filled.pause_file.touch()
        job = _start_job(server, "jsonl")
        job_id = job["id"]
        seen = _wait_for(
            server,
            job_id,
            lambda s: s["state"] == "running" and s["rows_written"] > 0,
            "running with rows written",
        )
        server.stop(signal.SIGKILL)
        assert 0 < seen["rows_written"] < seen["rows_total_estimate"]
        assert seen["progress"] is not None and 0 < seen["progress"] < 1
        assert seen["download_url"] is None

        filled.pause_file.unlink()
        server = filled.server().start()
        done = _wait_final(server, job_id)
        assert done["state"] == "done", done
        assert server.logged(f"restarting export job {job_id}")
        assert done["rows_written"] == done["rows_total_estimate"] > 0
        exports = filled.workdir / "state" / "exports"
        assert not list(exports.glob("*.part")), "the crashed run's temp file must be gone"

        whole = _call(server, "GET", done["download_url"], KEY_A)
        assert whole.status_code == 200
        data = whole.content
        assert hashlib.sha256(data).hexdigest() == done["sha256"]
        assert whole.headers["etag"] == f'"{done["sha256"]}"'
        assert whole.headers["accept-ranges"] == "bytes"
        assert data.count(b"\n") == done["rows_written"]
        # A closed range exports to the same bytes as the direct download.
        direct = _call(
            server, "GET", "/api/v1/activity/export", KEY_A, params=RANGE | {"format": "jsonl"}
        )
        assert direct.content == data
        manifest = _call(server, "GET", f"/api/v1/exports/{job_id}/manifest", KEY_A).json()
        assert manifest["export_id"] == job_id
        assert manifest["sha256"] == done["sha256"]
        assert manifest["rows"] == done["rows_written"]
        assert manifest["partner_id"] == filled.partner_a
    finally:
        server.stop()

    # A deploy after the job: the finished job and its file are still there, and a
    # transfer broken in the middle resumes with a Range request.
    server = filled.server().start()
    try:
        again = _status(server, job_id)
        assert again["state"] == "done" and again["sha256"] == done["sha256"]
        middle = len(data) // 2
        etag = f'"{done["sha256"]}"'
        first = _call(
            server, "GET", done["download_url"], KEY_A, headers={"Range": f"bytes=0-{middle - 1}"}
        )
        assert first.status_code == 206
        assert first.headers["content-range"] == f"bytes 0-{middle - 1}/{len(data)}"
        rest = _call(
            server,
            "GET",
            done["download_url"],
            KEY_A,
            headers={"Range": f"bytes={middle}-", "If-Range": etag},
        )
        assert rest.status_code == 206
        assert rest.headers["content-range"] == f"bytes {middle}-{len(data) - 1}/{len(data)}"
        assert int(rest.headers["content-length"]) == len(data) - middle
        assert first.content + rest.content == data
        # A stale If-Range gets the whole file; a range past the end is refused.
        stale = _call(
            server,
            "GET",
            done["download_url"],
            KEY_A,
            headers={"Range": f"bytes={middle}-", "If-Range": '"0000"'},
        )
        assert stale.status_code == 200 and len(stale.content) == len(data)
        past = _call(
            server, "GET", done["download_url"], KEY_A, headers={"Range": f"bytes={len(data)}-"}
        )
        assert past.status_code == 416
        assert past.headers["content-range"] == f"bytes */{len(data)}"
        assert past.json()["error"]["code"] == "range_not_satisfiable"

        # Partner-scoped: another partner's key sees no such job; the admin key does.
        for method, path in (
            ("GET", f"/api/v1/exports/{job_id}"),
            ("GET", f"/api/v1/exports/{job_id}/download"),
            ("GET", f"/api/v1/exports/{job_id}/manifest"),
            ("DELETE", f"/api/v1/exports/{job_id}"),
        ):
            other = _call(server, method, path, KEY_B)
            assert other.status_code == 404, (method, path, other.text)
            assert other.json()["error"]["code"] == "not_found"
        assert _status(server, job_id, ADMIN)["state"] == "done"
        assert _call(server, "GET", "/api/v1/exports/exp_nosuchjob", KEY_A).status_code == 404
    finally:
        server.stop()

    # Past the retention the file is removed at start-up: the state says so, downloads 410.
    server = filled.server(ACTIVITYLOG_EXPORT_RETENTION_HOURS="0.0001").start()
    try:
        expired = _status(server, job_id)
        assert expired["state"] == "expired" and expired["download_url"] is None
        gone = _call(server, "GET", done["download_url"], KEY_A)
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "gone"
        assert not (filled.workdir / "state" / "exports" / done["file_name"]).exists()
    finally:
        server.stop()


def test_a_running_job_is_cancelled_and_a_bad_request_is_a_400(
    filled: Filled, running: ServeProcess
) -> None:
    # Held after each chunk until the test is done with them: nothing finishes first.
    filled.pause_file.touch()
    job = _start_job(running, "jsonl")
    _wait_for(running, job["id"], lambda s: s["rows_written"] > 0, "rows written")
    cancelled = _call(running, "DELETE", f"/api/v1/exports/{job['id']}", KEY_A)
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["state"] == "cancelled" and body["error"] == "cancelled on request"
    assert body["rows_written"] < body["rows_total_estimate"]
    gone = _call(running, "GET", f"/api/v1/exports/{job['id']}/download", KEY_A)
    assert gone.status_code == 410
    exports = running.workdir / "state" / "exports"
    assert not [p for p in exports.iterdir() if job["id"] in p.name]
    missing_manifest = _call(running, "GET", f"/api/v1/exports/{job['id']}/manifest", KEY_A)
    assert missing_manifest.status_code == 404  # a cancelled export is never sealed

    # At most MAX_ACTIVE_JOBS queued or running per partner; cancelling frees a place.
    started = [_start_job(running, "jsonl")["id"] for _ in range(MAX_ACTIVE_JOBS)]
    refused = _call(running, "POST", "/api/v1/exports", KEY_A, json=RANGE)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_jobs"
    other_partner = _call(running, "POST", "/api/v1/exports", KEY_B, json=RANGE)
    assert other_partner.status_code == 202
    for job_id in [*reversed(started), other_partner.json()["id"]]:
        cancel = _call(
            running, "DELETE", f"/api/v1/exports/{job_id}", KEY_A if job_id in started else KEY_B
        )
        assert cancel.json()["state"] == "cancelled", cancel.text

    for params, param in (
        ({"format": "xls"}, "format"),
        ({"from": "2026-10-31", "to": "2026-10-01"}, "from"),
        ({"limit": "10"}, "limit"),
    ):
        bad = _call(running, "POST", "/api/v1/exports", KEY_A, json=params)
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"]["message"].startswith(param)
    not_json = _call(running, "POST", "/api/v1/exports", KEY_A, content=b"{nope")
    assert not_json.status_code == 400
    unauthenticated = httpx.post(f"{running.url}/api/v1/exports", json=RANGE, timeout=30)
    assert unauthenticated.status_code == 401


def test_a_paused_job_holds_then_a_query_string_csv_job_resumes_to_done(
    filled: Filled, running: ServeProcess
) -> None:
    filled.pause_file.touch()
    response = _call(
        running, "POST", "/api/v1/exports", KEY_A, params=RANGE | {"format": "csv", "lang": "fr"}
    )
    assert response.status_code == 202
    job_id = response.json()["id"]
    held = _wait_for(running, job_id, lambda s: s["rows_written"] > 0, "rows written")
    assert held["state"] == "running" and held["rows_written"] < held["rows_total_estimate"]
    # Paused, it stays where it is: a later look finds the same progress.
    assert _status(running, job_id)["rows_written"] == held["rows_written"]
    filled.pause_file.unlink()
    done = _wait_final(running, job_id)
    assert done["state"] == "done", done
    data = _call(running, "GET", done["download_url"], KEY_A).content
    assert data.startswith("\ufeffDate (UTC),Client affecté".encode())
    direct = _call(
        running,
        "GET",
        "/api/v1/activity/export",
        KEY_A,
        params=RANGE | {"format": "csv", "lang": "fr"},
    )
    assert direct.content == data


@pytest.mark.parametrize(("fmt", "extension"), [("xlsx", "xlsx"), ("csv-fr", "csv")])
def test_xlsx_and_csv_fr_jobs_write_the_direct_downloads_bytes(
    running: ServeProcess, fmt: str, extension: str
) -> None:
    response = _call(running, "POST", "/api/v1/exports", KEY_A, json=RANGE | {"format": fmt})
    assert response.status_code == 202, response.text
    done = _wait_final(running, response.json()["id"])
    assert done["state"] == "done", done
    assert done["file_name"].endswith(f".{extension}")
    download = _call(running, "GET", done["download_url"], KEY_A)
    data = download.content
    assert download.headers["content-type"].startswith(EXPORT_MEDIA_TYPES[fmt].split(";")[0])
    direct = _call(running, "GET", "/api/v1/activity/export", KEY_A, params=RANGE | {"format": fmt})
    assert direct.content == data, "a closed range gives the same bytes as a job or directly"
    manifest = _call(running, "GET", f"/api/v1/exports/{done['id']}/manifest", KEY_A).json()
    assert manifest["format"] == fmt and manifest["rows"] == done["rows_written"] > 0
    if fmt == "xlsx":
        sheets = openpyxl_sheets(data)
        assert sum(len(rows) - 1 for _, rows in sheets) == done["rows_written"]
    else:
        table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
        assert len(table) - 1 == done["rows_written"] and len(table[0]) == 6
