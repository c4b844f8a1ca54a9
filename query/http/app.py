"""The HTTP API (docs/contracts.md): partner-scoped reads and exports, health and metrics.

Errors are JSON `{"error": {"code", "message"}}` with a 4xx for bad input;
an unexpected failure answers 500 with the same shape and no stack trace.

No `from __future__ import annotations` here: FastAPI reads the dependency
annotations at runtime, and the dependencies are defined inside `create_api`.
"""

import hmac
import logging
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.errors import ActivityLogError, NotFound, StoreUnavailable, Unauthorized
from common.settings import ALL_PARTNERS, Settings
from common.store import Store
from query.exports.formats import EXPORT_FORMATS, EXPORT_MEDIA_TYPES, check_export, export_bytes
from query.filters import ActivityFilter
from query.headers import ROWS_HEADER
from query.http.jobs import jobs_router
from query.http.limits import ApiLimits, RequestLimits, check_export_range
from query.http.manifests import SealedStreamingResponse, caller_identity, manifest_router
from query.http.openapi import declare_error_responses
from query.http.pages import register_pages
from query.jobs.runner import ExportJobRunner
from query.manifests.ledger import ExportLedger
from query.manifests.model import export_request_info, new_export_id
from query.ranges import resolve_range
from query.reads.lifecycle import diff_changes, lifecycle
from query.reads.pages import DEFAULT_LIMIT, MAX_LIMIT, list_activity
from query.reads.records import get_activity
from query.reads.slices import count_activity
from query.reads.subscriptions import customer_subscriptions

log = logging.getLogger(__name__)

_STATUS = {
    "bad_request": 400,
    "invalid_event": 400,
    "unauthorized": 401,
    "not_found": 404,
    "store_unavailable": 503,
}


class Caller:
    """Who is asking: the partner their key is scoped to, or every partner."""

    def __init__(self, partner_id: str | None) -> None:
        self.partner_id = partner_id


def create_api(
    store: Store,
    api_keys: Mapping[str, str] | None,
    *,
    health: Callable[[], dict[str, Any]] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    jobs: "ExportJobRunner | None" = None,
    settings: "Settings | None" = None,
    ledger: "ExportLedger | None" = None,
) -> FastAPI:
    """Build the app around an open store; `api_keys` None means no authentication.

    `ledger` seals every export's manifest (default: one on `store`, signing
    with `settings`' key when set).
    """
    export_ledger = ledger or ExportLedger(store, settings or Settings())
    app = FastAPI(
        title="activitylog",
        version="1",
        description="Partner activity log: date-range reads, details and exports.",
        docs_url=None,
        redoc_url=None,
    )
    # Request size limits before anything else runs (query/limits.py).
    limits = ApiLimits.from_settings(settings or Settings())
    app.add_middleware(RequestLimits, limits=limits)

    def caller(request: Request) -> Caller:
        if api_keys is None:
            return Caller(None)
        key = _presented_key(request)
        if key is None:
            raise Unauthorized("send an API key as `Authorization: Bearer KEY` or `X-API-Key`")
        partner = _match_key(key, api_keys)
        if partner is None:
            raise Unauthorized("unknown API key")
        return Caller(None if partner == ALL_PARTNERS else partner)

    CallerDep = Annotated[Caller, Depends(caller)]

    def activity_filter(
        who: CallerDep,
        from_: Annotated[str | None, Query(alias="from")] = None,
        to: str | None = None,
        tz: str | None = None,
        customer_id: str | None = None,
        customer: str | None = None,
        action: str | None = None,
        partner_user: str | None = None,
        status: str | None = None,
        q: str | None = None,
    ) -> ActivityFilter:
        return ActivityFilter(
            range=resolve_range(from_, to, tz, now()),
            partner_id=who.partner_id,
            customer_id=customer_id or None,
            customer=customer or None,
            action=action or None,
            partner_user=partner_user or None,
            status=status or None,
            q=q or None,
        )

    FilterDep = Annotated[ActivityFilter, Depends(activity_filter)]

    @app.exception_handler(ActivityLogError)
    async def _typed_error(request: Request, exc: ActivityLogError) -> JSONResponse:
        status = _STATUS.get(exc.code, 400)
        if isinstance(exc, StoreUnavailable):
            log.warning("store error on %s: %s", request.url.path, exc.message)
        return _error(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
        return _error(400, "bad_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, "internal", "internal error; the server log has the details")

    @app.get(
        "/healthz",
        tags=["operations"],
        responses={503: {"description": "Degraded: the store or the worker is down"}},
    )
    def healthz() -> JSONResponse:
        body: dict[str, Any] = {"status": "ok", "store": store.ping()}
        if health is not None:
            body |= health()
        ok = body["store"] and body.get("worker", "ok") != "failed"
        if not ok:
            body["status"] = "degraded"
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
    )
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/activity", tags=["activity"])
    def activity(
        flt: FilterDep,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> JSONResponse:
        page = list_activity(store, flt, limit=limit, cursor=cursor or None)
        return JSONResponse({"items": page.items, "next_cursor": page.next_cursor})

    @app.get(
        "/api/v1/activity/export",
        tags=["activity"],
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "The file, as an attachment",
                "content": {media: {} for media in EXPORT_MEDIA_TYPES.values()},
            }
        },
    )
    def export(
        request: Request,
        flt: FilterDep,
        format: Annotated[str, Query(description=" | ".join(EXPORT_FORMATS))] = "csv",
        lang: Annotated[str, Query(description="CSV header language: en | fr")] = "en",
    ) -> StreamingResponse:
        """A streamed download of every matching row (CSV for Excel, Parquet or JSONL)."""
        check_export(format, lang)
        check_export_range(flt.range, limits.export_max_days)  # longer: an export job
        first, last = flt.range.label()
        filename = f"activity-{first}_{last}.{format}"
        # Every download is an export with an id and, once its last byte is out, a manifest.
        created_by = caller_identity(request, api_keys, _presented_key(request))
        info = export_request_info(flt, format, lang, created_by)
        run = export_ledger.start(new_export_id(), info)
        body = run.stream(export_bytes(store, flt, format, lang))
        # The row count (for the client's progress bar and summary) is counted on the
        # store's client while the export's own connection produces its first chunk,
        # pulled now so that a store error is a clean JSON error, not a cut stream.
        with ThreadPoolExecutor(1, thread_name_prefix="export-count") as pool:
            counting = pool.submit(count_activity, store, flt)
            try:
                head = next(body, b"")
                rows = counting.result()
            except ActivityLogError as exc:
                run.abort(exc.message)  # recorded once, whichever of the two failed
                body.close()
                raise
        return SealedStreamingResponse(
            run,
            _chain(head, body),
            media_type=EXPORT_MEDIA_TYPES[format],
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                ROWS_HEADER: str(rows),
            },
        )

    @app.get("/api/v1/activity/{event_id}", tags=["activity"])
    def activity_detail(event_id: str, who: CallerDep) -> JSONResponse:
        """One record, with its lifecycle (same correlation id) and its before/after changes."""
        item = get_activity(store, event_id, who.partner_id)
        if item is None:
            raise NotFound(f"no activity {event_id!r}")
        # Additive fields: the lifecycle reads only the record's own partner.
        item["lifecycle"] = lifecycle(store, item)
        item["changes"] = diff_changes(item.get("details"))
        return JSONResponse(item)

    @app.get("/api/v1/customers/{customer_id}/subscriptions", tags=["customers"])
    def subscriptions(customer_id: str, who: CallerDep) -> JSONResponse:
        """The customer's subscriptions as derived from orders and subscription actions."""
        view = customer_subscriptions(store, customer_id, who.partner_id)
        if view is None:
            raise NotFound(f"no customer {customer_id!r}")
        return JSONResponse(view)

    def job_owner(request: Request) -> str:
        return caller_identity(request, api_keys, _presented_key(request))

    app.include_router(jobs_router(jobs, caller, now=now, created_by=job_owner))
    app.include_router(manifest_router(export_ledger, caller))  # GET /api/v1/exports/{id}/manifest

    register_pages(app)  # `/`, the Subscriptions page and `/static/...` (no API key: no data)
    declare_error_responses(app)  # the 4xx/5xx each operation really answers, in /openapi.json
    return app


def _chain(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


def _match_key(presented: str, keys: Mapping[str, str]) -> str | None:
    """Constant-time comparison against every configured key."""
    found: str | None = None
    for key, partner in keys.items():
        if hmac.compare_digest(presented.encode(), key.encode()):
            found = partner
    return found


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
