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
range past the end; a fifth active job of one partner answers 429; a server
without a job runner answers 503 on every route.

The download keeps query/http/range.py rather than Starlette's FileResponse:
that one answers 416 and a malformed Range in plain text, not the JSON error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from common.errors import BadQuery, Gone, JobsDisabled, NotFound, NotReady, TooManyJobs
from query.exports.formats import EXPORT_MEDIA_TYPES
from query.headers import EXPORT_ID_HEADER, ROWS_HEADER
from query.http.auth import CallerDep
from query.http.range import etag_for, if_range_matches, parse_range
from query.http.services import Services, ServicesDep
from query.jobs.model import ACTIVE_STATES, DONE, Job, job_request, status_body
from query.jobs.runner import ExportJobRunner
from query.manifests.model import is_export_id, new_export_id
from schemas.readable.catalogs import negotiate

DOWNLOAD_CHUNK = 1 << 20
# Queued or running jobs per partner: jobs run one at a time, so one partner's
# burst must not push every other partner's job back by hours.
MAX_ACTIVE_JOBS = 4

router = APIRouter(tags=["exports"])


def job_runner(services: ServicesDep) -> ExportJobRunner:
    """The server's job runner; 503 when this server runs none."""
    if services.jobs is None:
        raise JobsDisabled("export jobs are not enabled on this server")
    return services.jobs


RunnerDep = Annotated[ExportJobRunner, Depends(job_runner)]


async def _json_body(request: Request) -> dict[str, Any]:
    """The POST's JSON object, if it sent one; its values join the query parameters.

    Read on the event loop, while the route runs in the thread pool (recording a
    job is a short blocking store call). Its size is bounded for every route by
    the request-limits middleware (413).
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


JsonBody = Annotated[dict[str, Any], Depends(_json_body)]


@router.post("/api/v1/exports", status_code=202)
def start_job(
    request: Request, who: CallerDep, services: ServicesDep, body: JsonBody, jobs: RunnerDep
) -> JSONResponse:
    """Start an export job (same filters, `format` and `lang` as the direct export)."""
    params: dict[str, Any] = dict(request.query_params)
    params |= body
    if not params.get("lang"):  # as every read: the client's Accept-Language, else en
        params["lang"] = negotiate(request.headers.get("accept-language"))
    wanted = job_request(params, services.now())
    if jobs.active_count(who.partner_id) >= MAX_ACTIVE_JOBS:
        raise TooManyJobs(
            f"{MAX_ACTIVE_JOBS} export jobs are already queued or running for this key's "
            "partner; wait for one to finish, or cancel one"
        )
    job = jobs.submit(new_export_id(), who.partner_id, who.created_by, wanted)
    status = status_body(job, services.now())
    return JSONResponse(status, status_code=202, headers={"Location": status["url"]})


@router.get("/api/v1/exports/{export_id}")
def job_status(
    export_id: str, who: CallerDep, services: ServicesDep, jobs: RunnerDep
) -> JSONResponse:
    """A job's state, rows written so far, the estimated total and the download link."""
    job = _visible_job(jobs, export_id, who.partner_id)
    return JSONResponse(status_body(job, services.now()))


@router.get("/api/v1/exports/{export_id}/download", response_model=None)
def download(
    export_id: str, request: Request, who: CallerDep, services: ServicesDep, jobs: RunnerDep
) -> Response:
    """The finished file; a `Range: bytes=N-` request resumes a broken transfer (206)."""
    job = _visible_job(jobs, export_id, who.partner_id)
    path, size = finished_file(jobs, job, services)
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
        wanted = parse_range(request.headers.get("range"), size)  # past the end: 416
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
def cancel_job(
    export_id: str, who: CallerDep, services: ServicesDep, jobs: RunnerDep
) -> JSONResponse:
    """Cancel a queued or running job; on a finished job, delete its file."""
    job = _visible_job(jobs, export_id, who.partner_id)
    return JSONResponse(status_body(jobs.cancel(job), services.now()))


def _visible_job(jobs: ExportJobRunner, export_id: str, partner_id: str | None) -> Job:
    if not is_export_id(export_id):
        raise NotFound(f"no export job {export_id!r}")
    job = jobs.get(export_id)
    if job is None or not job.visible_to(partner_id):
        raise NotFound(f"no export job {export_id!r}")
    return job


def finished_file(jobs: ExportJobRunner, job: Job, services: Services) -> tuple[Path, int]:
    """The job's file and its size: 409 while the job runs, 410 once there will never be one."""
    state = job.effective_state(services.now())
    if state in ACTIVE_STATES:  # not yet: ask again later
        raise NotReady(f"export {job.job_id} is {state}; no file yet")
    if state != DONE:  # never again: expired, deleted, failed or cancelled
        reason = f" ({job.error})" if job.error else ""
        raise Gone(f"export {job.job_id} is {state}{reason}: no file")
    path = jobs.file_path(job)
    try:
        return path, path.stat().st_size
    except FileNotFoundError:
        raise Gone(f"the file of export {job.job_id} is no longer on disk") from None


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
