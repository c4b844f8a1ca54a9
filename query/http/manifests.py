"""HTTP side of verifiable exports (docs/contracts.md): the manifest route and sealed downloads.

- `GET /api/v1/exports/{export_id}/manifest`: the manifest's canonical bytes
  (exactly what `previous` and the signature cover), partner-scoped like
  every read: another partner's id answers 404, as an unknown one does.
- `SealedStreamingResponse`: a direct download whose export is sealed when
  its last byte has gone out, and recorded as failed when the client goes
  away first (Starlette then stops iterating without closing the body).
- `caller_identity`: the manifest's `created_by` for an HTTP caller, which
  names the API key by a fingerprint and never shows the key itself.

No `from __future__ import annotations`: FastAPI reads the route's
annotations at runtime.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from common.errors import NotFound
from query.headers import EXPORT_ID_HEADER, USER_HEADER
from query.manifests.ledger import ExportLedger, ExportRun
from query.manifests.model import canonical_bytes, is_export_id, key_fingerprint

UNAUTHENTICATED: Final = "unauthenticated"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
MAX_USER_CHARS = 200


def caller_identity(
    request: Request, api_keys: Mapping[str, str] | None, presented: str | None
) -> str:
    """`created_by` for an HTTP export: `[USER via ]key:FINGERPRINT`, or `unauthenticated`.

    The fingerprint is 12 hex characters of the key's SHA-256, enough to tell
    an operator which configured key it was, useless to call the API with.
    `X-Activitylog-User` (sent by the portal, or the CLI's OS user) is kept as
    given after removing control characters, and cut to 200 characters.
    """
    if api_keys is None or presented is None:
        who = UNAUTHENTICATED
    else:
        who = key_fingerprint(presented, prefix="key:")
    user = _UNSAFE.sub("", request.headers.get(USER_HEADER, "")).strip()[:MAX_USER_CHARS]
    return f"{user} via {who}" if user else who


def manifest_router(ledger: ExportLedger, caller: Callable[..., Any]) -> APIRouter:
    """The manifest route, scoped by `caller` (query.http.app's caller dependency)."""
    router = APIRouter()

    @router.get("/api/v1/exports/{export_id}/manifest", tags=["exports"])
    def export_manifest(export_id: str, who: Annotated[Any, Depends(caller)]) -> Response:
        """The manifest of a finished export (JSON, canonical bytes: keys sorted, compact)."""
        manifest = ledger.manifest(export_id, who.partner_id) if is_export_id(export_id) else None
        if manifest is None:
            raise NotFound(f"no manifest for export {export_id!r} (unknown, unfinished or failed)")
        return Response(canonical_bytes(manifest), media_type="application/json")

    return router


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
