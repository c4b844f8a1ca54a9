"""`GET /api/v1/exports/{export_id}/manifest`: a finished export's manifest (docs/contracts.md).

The manifest's canonical bytes, exactly what `previous` and the signature
cover; partner-scoped like every read: another partner's id answers 404, as
an unknown one does.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from common.errors import NotFound
from query.http.auth import CallerDep
from query.http.services import ServicesDep
from query.manifests.model import canonical_bytes, is_export_id

router = APIRouter()


@router.get("/api/v1/exports/{export_id}/manifest", tags=["exports"])
def export_manifest(export_id: str, who: CallerDep, services: ServicesDep) -> Response:
    """The manifest of a finished export (JSON, canonical bytes: keys sorted, compact)."""
    ledger = services.ledger
    manifest = ledger.manifest(export_id, who.partner_id) if is_export_id(export_id) else None
    if manifest is None:
        raise NotFound(f"no manifest for export {export_id!r} (unknown, unfinished or failed)")
    return Response(canonical_bytes(manifest), media_type="application/json")
