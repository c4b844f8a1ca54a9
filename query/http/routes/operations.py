"""Routes for operators: `/healthz` (the store and the worker beside the API) and `/metrics`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from query.http.services import ServicesDep

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    responses={503: {"description": "Degraded: the store or the worker is down"}},
)
def healthz(services: ServicesDep) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "store": services.store.ping()}
    if services.health is not None:
        body |= services.health()
    ok = body["store"] and body.get("worker", "ok") != "failed"
    if not ok:
        body["status"] = "degraded"
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
