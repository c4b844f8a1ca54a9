"""`activitylog export --job`: a long export as a job, with a progress bar and a resumable download.

While `activitylog serve` holds the store, the job runs in the server
(`POST /api/v1/exports`); the CLI follows its progress, then downloads the
file with HTTP Range, resuming where a broken transfer stopped (If-Range
on the file's SHA-256, so a changed file restarts from zero). Without a
running server (or against a ClickHouse server) the same job code runs in
this process. Either way the file is checked against the job's SHA-256 and
its manifest written beside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx

from activitylog.cli.progress import job_progress
from activitylog.runtime import store_reader
from common.errors import ActivityLogError, ApiUnavailable, ConfigError
from common.serve_info import read_serve_info
from common.settings import Settings
from query.client import HttpReader, Request, os_user, raise_for_error
from query.jobs.model import DONE, job_request, status_body
from query.jobs.runner import ExportJobRunner
from query.manifests.files import write_manifest
from query.manifests.model import new_export_id
from schemas.migrate import migrated_store

POLL_SECONDS: Final = 0.25
DOWNLOAD_ATTEMPTS: Final = 8
CHUNK: Final = 1 << 20


@dataclass(frozen=True)
class JobResult:
    """What `export --job` wrote."""

    export_id: str
    rows: int
    bytes: int
    manifest_path: Path | None
    resumed: int  # how many times the download resumed after a broken transfer


@dataclass(frozen=True)
class _Wanted:
    """The export asked for and where its file (and manifest, unless None) go."""

    req: Request
    fmt: str
    lang: str
    path: Path
    manifest_path: Path | None

    def params(self) -> dict[str, str]:
        """The job's parameters, as `POST /api/v1/exports` takes them."""
        return self.req.params() | {"format": self.fmt, "lang": self.lang}


def run_job_export(
    settings: Settings,
    req: Request,
    fmt: str,
    lang: str,
    path: Path,
    *,
    progress: bool,
    manifest: bool,
    manifest_path: Path | None,
) -> JobResult:
    """Run the export as a job (in the running server, else here) and write it to `path`."""

    if path.is_dir():
        raise ConfigError("--output", f"{path} is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    info = read_serve_info(settings)
    wanted = _Wanted(req, fmt, lang, path, manifest_path if manifest else None)
    with job_progress(progress) as show:
        if info is not None:
            return _through_server(info.api_url, settings, wanted, show)
        return _in_process(settings, wanted, show)


# -- through a running server -----------------------------------------------------------------


def _through_server(
    base_url: str, settings: Settings, wanted: _Wanted, show: Callable[[dict[str, Any]], None]
) -> JobResult:
    reader = HttpReader(base_url, settings.api_key)
    client = JobClient(reader)
    try:
        job = client.start(wanted.params())
        try:
            status = client.follow(job["id"], show)
        except KeyboardInterrupt:
            client.cancel(job["id"])  # nobody will download it: free the server's work
            raise
        if status["state"] != "done":
            raise ActivityLogError(
                f"export job {job['id']} {status['state']}: {status.get('error') or 'no reason'}"
            )
        resumed = client.download(status, wanted.path)
        written = None
        if wanted.manifest_path is not None:
            written = write_manifest(reader.manifest(status["id"]), wanted.manifest_path)
        return JobResult(
            status["id"], status["rows_written"], wanted.path.stat().st_size, written, resumed
        )
    finally:
        reader.close()


class JobClient:
    """The job endpoints over a `HttpReader`'s HTTP client (its key and user headers)."""

    def __init__(self, reader: HttpReader, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.reader = reader
        self.http = reader.http
        self._sleep = sleep

    def start(self, params: dict[str, str]) -> dict[str, Any]:
        return self._json(self._send("POST", "/api/v1/exports", json=params))

    def status(self, job_id: str) -> dict[str, Any]:
        return self._json(self._send("GET", f"/api/v1/exports/{job_id}"))

    def cancel(self, job_id: str) -> None:
        with contextlib.suppress(ActivityLogError):  # best effort on the way out
            self._send("DELETE", f"/api/v1/exports/{job_id}")

    def follow(self, job_id: str, show: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Poll the job until it ends, showing each status."""
        while True:
            status = self.status(job_id)
            show(status)
            if status["state"] not in ("queued", "running"):
                return status
            self._sleep(POLL_SECONDS)

    def download(self, status: dict[str, Any], path: Path) -> int:
        """Download the job's file to `path`, resuming broken transfers; returns the resumes.

        The bytes go to `.NAME.part` first; a Range request continues from its
        size, with If-Range on the ETag (the SHA-256), so a file that changed
        on the server comes whole instead of being spliced. The result must
        hash to the job's SHA-256 before it is renamed to `path`.
        """
        part = path.with_name(f".{path.name}.part")
        etag = f'"{status["sha256"]}"'
        resumed = 0
        for attempt in range(DOWNLOAD_ATTEMPTS):
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-", "If-Range": etag} if have else {}
            try:
                with self.http.stream("GET", status["download_url"], headers=headers) as response:
                    if response.status_code == 416:  # we already have every byte
                        break
                    if response.status_code >= 400:
                        response.read()
                        self._json(response)
                    mode = "ab" if response.status_code == 206 else "wb"
                    with part.open(mode) as out:
                        for chunk in response.iter_bytes():  # as received: a break keeps them
                            out.write(chunk)
                break
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                if attempt + 1 == DOWNLOAD_ATTEMPTS:
                    raise ApiUnavailable(
                        f"the download of export {status['id']} kept breaking: {exc}"
                    ) from exc
                resumed += 1
                self._sleep(min(0.2 * 2**attempt, 5.0))
        if _sha256(part) != status["sha256"]:
            part.unlink(missing_ok=True)
            raise ActivityLogError(
                f"the file of export {status['id']} does not match its SHA-256; run it again"
            )
        part.replace(path)
        return resumed

    def _send(self, method: str, url: str, **kw: Any) -> httpx.Response:
        try:
            response = self.http.request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(
                f"cannot reach the server at {self.reader.base_url}: {exc}"
            ) from exc
        return response

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise_for_error(response)
        body: dict[str, Any] = response.json()
        return body


# -- in this process --------------------------------------------------------------------------


def _in_process(
    settings: Settings, wanted: _Wanted, show: Callable[[dict[str, Any]], None]
) -> JobResult:
    """The same job code as the server's, run here; the file then moves to its path."""
    request = job_request(wanted.params(), datetime.now(UTC))
    store = migrated_store(settings)
    reader = store_reader(store, settings)  # closes the store, and the audit it opened
    try:
        ledger = reader.ledger()
        runner = ExportJobRunner(settings, store, ledger=ledger)
        job = runner.create(new_export_id(), wanted.req.partner_id, "os:" + os_user(), request)
        job = runner.run(job, progress=lambda j: show(status_body(j, datetime.now(UTC))))
        if job.state != DONE:
            raise ActivityLogError(f"export job {job.job_id} {job.state}: {job.error}")
        shutil.move(runner.file_path(job), wanted.path)
        runner.handed_over(job)
        written = None
        if wanted.manifest_path is not None:
            sealed = ledger.manifest(job.job_id, None)
            if sealed is not None:
                written = write_manifest(sealed, wanted.manifest_path)
        return JobResult(job.job_id, job.rows_written, wanted.path.stat().st_size, written, 0)
    finally:
        reader.close()


# -- shared -----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
