"""Export history: `GET /api/v1/exports` and `POST /api/v1/exports/{id}/verify`.

The list is the caller's sealed exports, newest first, in keyset pages
(query/manifests/history.py); an every-partner key sees every partner's.
Verify re-reads a retained job file on the server and checks it against its
manifest (hash, rows, first and last event, signature when the server has
the signing key): 410 when the file is no longer kept, 404 for an export the
caller cannot see, exactly as for one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from common.errors import Gone, NotFound
from query.http.auth import CallerDep
from query.http.openapi import error_responses
from query.http.routes.jobs import RunnerDep, finished_file
from query.http.services import ServicesDep
from query.manifests.history import DEFAULT_LIMIT, MAX_LIMIT, list_exports, page_body
from query.manifests.model import is_export_id
from query.manifests.verify import check_file

router = APIRouter(tags=["exports"])


@router.get("/api/v1/exports")
def export_history(
    who: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> JSONResponse:
    """The caller's finished exports, newest first: who, range, format, rows, hash, file kept."""
    page = list_exports(services.store, who.partner_id, services.now(), limit=limit, cursor=cursor)
    return JSONResponse(page_body(page))


@router.post("/api/v1/exports/{export_id}/verify", responses=error_responses(410))
def verify_export(
    export_id: str, who: CallerDep, services: ServicesDep, jobs: RunnerDep
) -> JSONResponse:
    """Re-check the retained file of an export against its manifest, on the server."""
    manifest = (
        services.ledger.manifest(export_id, who.partner_id) if is_export_id(export_id) else None
    )
    if manifest is None:
        raise NotFound(f"no manifest for export {export_id!r} (unknown, unfinished or failed)")
    job = jobs.get(export_id)
    if job is None:
        raise Gone(f"export {export_id} was a direct download: the server kept no file to verify")
    path, _ = finished_file(jobs, job, services)
    key = services.settings.export_signing_key
    verdict = check_file(path, manifest, signing_key=key.encode("utf-8") if key else None)
    body: dict[str, Any] = {
        "id": export_id,
        "ok": verdict.ok,
        "mismatches": [{"name": m.name, "detail": m.detail} for m in verdict.mismatches],
        "notes": verdict.notes,
    }
    return JSONResponse(body)
