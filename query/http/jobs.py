"""HTTP routes of export jobs: start, follow, download (with Range), cancel.

- `POST /api/v1/exports` starts a job (the direct export's parameters, in the
  query string or a JSON body) and answers 202 with its id and URL.
- `GET /api/v1/exports/{id}` gives its state, rows written so far, the
  estimated total, progress and, when done, the download link.
- `GET /api/v1/exports/{id}/download` sends the file; HTTP Range (and
  If-Range against the ETag, the file's SHA-256) lets a broken transfer resume.
- `DELETE /api/v1/exports/{id}` cancels a job, or deletes a finished file.

Partner-scoped like every read: another partner's job answers 404, exactly
like one that does not exist. A download answers 409 while the job runs,
410 once its file is gone (expired, deleted, failed, cancelled), 416 for a
range past the end; a fifth active job of one partner answers 429.
No `from __future__ import annotations`:
FastAPI reads the dependency annotations at runtime.
"""

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from common.errors import ActivityLogError, BadQuery, NotFound
from query.exports.formats import EXPORT_MEDIA_TYPES
from query.headers import EXPORT_ID_HEADER, ROWS_HEADER
from query.http.range import RangeNotSatisfiable, etag_for, if_range_matches, parse_range
from query.jobs.model import ACTIVE_STATES, DONE, Job, job_request, status_body
from query.jobs.runner import ExportJobRunner
from query.manifests.model import is_export_id, new_export_id

log = logging.getLogger(__name__)

DOWNLOAD_CHUNK = 1 << 20
# Queued or running jobs per partner: jobs run one at a time, so one partner's
# burst must not push every other partner's job back by hours.
MAX_ACTIVE_JOBS = 4


def jobs_router(
    runner: ExportJobRunner | None,
    caller: Callable[..., Any],
    *,
    created_by: Callable[[Request], str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    """The export-job routes; `caller` is the API's dependency naming the caller's partner scope.

    `created_by` names who starts a job (the manifest's `created_by`);
    `runner` None (a process without a job runner) answers 503 on every route.
    """
    router = APIRouter(tags=["exports"])
    who_made = created_by or (lambda request: "unauthenticated")
    CallerDep = Annotated[Any, Depends(caller)]
    # The JSON body is read on the event loop; the route itself runs in the thread
    # pool, since recording a job is a (short) blocking store call.
    JsonBody = Annotated[dict[str, Any], Depends(_json_body)]

    def need_runner() -> ExportJobRunner:
        if runner is None:
            raise _Unavailable()
        return runner

    def visible_job(export_id: str, partner_id: str | None) -> Job:
        if not is_export_id(export_id):
            raise NotFound(f"no export job {export_id!r}")
        job = need_runner().get(export_id)
        if job is None or not job.visible_to(partner_id):
            raise NotFound(f"no export job {export_id!r}")
        return job

    @router.post("/api/v1/exports", status_code=202)
    def start_job(request: Request, who: CallerDep, body: JsonBody) -> JSONResponse:
        """Start an export job (same filters, `format` and `lang` as the direct export)."""
        params: dict[str, Any] = dict(request.query_params)
        params |= body
        jobs = need_runner()
        wanted = job_request(params, now())
        if jobs.active_count(who.partner_id) >= MAX_ACTIVE_JOBS:
            return _error(
                429,
                "too_many_jobs",
                f"{MAX_ACTIVE_JOBS} export jobs are already queued or running for this key's "
                "partner; wait for one to finish, or cancel one",
            )
        job = jobs.submit(new_export_id(), who.partner_id, who_made(request), wanted)
        body = status_body(job, now())
        return JSONResponse(body, status_code=202, headers={"Location": body["url"]})

    @router.get("/api/v1/exports/{export_id}")
    def job_status(export_id: str, who: CallerDep) -> JSONResponse:
        """A job's state, rows written so far, the estimated total and the download link."""
        return JSONResponse(status_body(visible_job(export_id, who.partner_id), now()))

    @router.get("/api/v1/exports/{export_id}/download", response_model=None)
    def download(export_id: str, request: Request, who: CallerDep) -> Response:
        """The finished file; a `Range: bytes=N-` request resumes a broken transfer (206)."""
        job = visible_job(export_id, who.partner_id)
        state = job.effective_state(now())
        if state in ACTIVE_STATES:  # not yet: ask again later
            return _error(409, "not_ready", f"export {export_id} is {state}; no file yet")
        if state != DONE:  # never again: expired, deleted, failed or cancelled
            reason = f" ({job.error})" if job.error else ""
            return _error(410, "gone", f"export {export_id} is {state}{reason}: no file")
        path = need_runner().file_path(job)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return _error(410, "gone", f"the file of export {export_id} is no longer on disk")
        etag = etag_for(job.sha256)
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Content-Disposition": f'attachment; filename="{job.file_name}"',
            EXPORT_ID_HEADER: job.job_id,
            ROWS_HEADER: str(job.rows_written),
        }
        media_type = EXPORT_MEDIA_TYPES[job.request.format]
        wanted = None
        if if_range_matches(request.headers.get("if-range"), etag):
            try:
                wanted = parse_range(request.headers.get("range"), size)
            except RangeNotSatisfiable:
                return _error(
                    416,
                    "range_not_satisfiable",
                    f"the file has {size} bytes",
                    headers={"Content-Range": f"bytes */{size}"},
                )
        if wanted is None:
            headers["Content-Length"] = str(size)
            return StreamingResponse(_read(path, 0, size), media_type=media_type, headers=headers)
        headers["Content-Length"] = str(wanted.length)
        headers["Content-Range"] = wanted.content_range()
        return StreamingResponse(
            _read(path, wanted.first, wanted.length),
            status_code=206,
            media_type=media_type,
            headers=headers,
        )

    @router.delete("/api/v1/exports/{export_id}")
    def cancel_job(export_id: str, who: CallerDep) -> JSONResponse:
        """Cancel a queued or running job; on a finished job, delete its file."""
        job = visible_job(export_id, who.partner_id)
        return JSONResponse(status_body(need_runner().cancel(job), now()))

    return router


class _Unavailable(ActivityLogError):
    """This process runs no job runner: 503, like a store that cannot serve."""

    code = "store_unavailable"

    def __init__(self) -> None:
        super().__init__("export jobs are not enabled on this server")


async def _json_body(request: Request) -> dict[str, Any]:
    """The POST's JSON object, if it sent one; its values join the query parameters.

    Its size is bounded for every route by the request-limits middleware (413).
    """
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadQuery("body", "is not JSON") from None
    if not isinstance(body, dict):
        raise BadQuery("body", "must be a JSON object of export parameters")
    return body


def _read(path: Path, first: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(first)
        left = length
        while left > 0:
            chunk = handle.read(min(DOWNLOAD_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )
