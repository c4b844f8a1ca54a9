"""The direct export (`GET /api/v1/activity/export`): a streamed file with an id and a manifest.

Every download is an export: it gets an id (in `X-Activitylog-Export-Id`)
and, once its last byte has gone out, a sealed manifest
(`GET /api/v1/exports/{id}/manifest`); a download cut short is recorded as
failed. Ranges longer than `ACTIVITYLOG_EXPORT_MAX_DAYS` go to export jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from common.errors import ActivityLogError
from query.exports.formats import (
    EXPORT_EXTENSIONS,
    EXPORT_FORMATS,
    EXPORT_MEDIA_TYPES,
    check_export,
    export_bytes,
)
from query.headers import EXPORT_ID_HEADER, ROWS_HEADER
from query.http.auth import CallerDep
from query.http.lang import LangDep
from query.http.limits import check_export_range
from query.http.params import FilterDep
from query.http.services import ServicesDep
from query.manifests.ledger import ExportRun
from query.manifests.model import export_request_info, new_export_id
from query.reads.slices import count_activity

router = APIRouter(tags=["activity"])


@router.get(
    "/api/v1/activity/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The file, as an attachment",
            "content": {media: {} for media in EXPORT_MEDIA_TYPES.values()},
        }
    },
)
def export(
    who: CallerDep,
    services: ServicesDep,
    flt: FilterDep,
    lang: LangDep,
    format: Annotated[str, Query(description=" | ".join(EXPORT_FORMATS))] = "csv",
) -> StreamingResponse:
    """A streamed download of every matching row (CSV or xlsx for Excel, Parquet or JSONL)."""
    check_export(format, lang)
    check_export_range(flt.range, services.limits.export_max_days)  # longer: an export job
    first, last = flt.range.label()
    filename = f"activity-{first}_{last}.{EXPORT_EXTENSIONS[format]}"
    info = export_request_info(flt, format, lang, who.created_by)
    run = services.ledger.start(new_export_id(), info)
    body = run.stream(export_bytes(services.store, flt, format, lang))
    # The row count (for the client's progress bar and summary) is counted on the
    # store's client while the export's own connection produces its first chunk,
    # pulled now so that a store error is a clean JSON error, not a cut stream.
    with ThreadPoolExecutor(1, thread_name_prefix="export-count") as pool:
        counting = pool.submit(count_activity, services.store, flt)
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


class SealedStreamingResponse(StreamingResponse):
    """A streamed export that is sealed at its end or recorded as failed when cut short.

    The body must be `run.stream(...)`: it seals when the last chunk has been
    taken and records a store error itself. What it cannot see is the client
    leaving between two chunks (Starlette cancels the send and leaves the body
    suspended), so the response records that failure once it returns.
    """

    def __init__(
        self,
        run: ExportRun,
        content: Iterable[bytes],
        *,
        media_type: str,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(
            content,
            media_type=media_type,
            headers={**headers, EXPORT_ID_HEADER: run.export_id},
        )
        self.run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.run.outcome is None:
                self.run.abort("the client disconnected before the end of the download")


def _chain(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest
