"""HTTP routes of webhook destinations (docs/contracts.md, Destinations).

- `POST /api/v1/destinations` registers one (`url`, optional `description`,
  `actions`, `kinds`, `customers`) and answers 201 with its secret, shown this once.
- `GET /api/v1/destinations` lists the caller's partner's destinations, with their
  state and delivery figures; `GET /api/v1/destinations/{id}` one of them.
- `DELETE /api/v1/destinations/{id}` removes one.
- `POST /api/v1/destinations/{id}/test` sends it one signed request with no
  activity and answers what the endpoint said (`ok`, `status`, `reason`).
- `POST /api/v1/destinations/{id}/replay` has the delivery agent re-send what it parked
  on the destination's dead-letter topic, then deliver again (202).

Partner-scoped like every read: another partner's destination answers 404,
exactly like one that does not exist. Bad input answers 400 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from common.errors import BadQuery
from query.destinations import Destinations, with_figures
from query.http.auth import CallerDep
from query.http.services import ServicesDep

router = APIRouter(tags=["destinations"])


def destinations(services: ServicesDep) -> Destinations:
    return Destinations(services.store, services.settings, now=services.now, audit=services.audit)


DestinationsDep = Annotated[Destinations, Depends(destinations)]


async def _json_object(request: Request) -> dict[str, Any]:
    """The POST's JSON object (its size is bounded by the request-limits middleware)."""
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        raise BadQuery("body", "is not JSON") from None
    if not isinstance(body, dict):
        raise BadQuery("body", "must be a JSON object with at least `url`")
    return body


JsonObject = Annotated[dict[str, Any], Depends(_json_object)]


@router.post("/api/v1/destinations", status_code=201)
def create_destination(who: CallerDep, body: JsonObject, found: DestinationsDep) -> JSONResponse:
    """Register a destination; the answer carries its signing secret, shown only this once."""
    created = found.create(who.partner_id, body, who.created_by)
    url = f"/api/v1/destinations/{created.destination.destination_id}"
    return JSONResponse(created.body(), status_code=201, headers={"Location": url})


@router.get("/api/v1/destinations")
def list_destinations(who: CallerDep, found: DestinationsDep) -> JSONResponse:
    """The caller's partner's destinations (never their secrets)."""
    listed = [with_figures(d) for d in found.list(who.partner_id)]
    return JSONResponse({"destinations": listed})


@router.get("/api/v1/destinations/{destination_id}")
def get_destination(destination_id: str, who: CallerDep, found: DestinationsDep) -> JSONResponse:
    """One destination of the caller's partner."""
    return JSONResponse(with_figures(found.get(who.partner_id, destination_id)))


@router.delete("/api/v1/destinations/{destination_id}")
def delete_destination(destination_id: str, who: CallerDep, found: DestinationsDep) -> JSONResponse:
    """Remove a destination: nothing more is delivered to it."""
    return JSONResponse(found.remove(who.partner_id, destination_id, who.created_by).public())


@router.post("/api/v1/destinations/{destination_id}/replay", status_code=202)
def replay_destination(destination_id: str, who: CallerDep, found: DestinationsDep) -> JSONResponse:
    """Re-send the destination's parked activities, in order, then resume delivering."""
    return JSONResponse(found.replay(who.partner_id, destination_id).public(), status_code=202)


@router.post("/api/v1/destinations/{destination_id}/test")
def test_destination(destination_id: str, who: CallerDep, found: DestinationsDep) -> JSONResponse:
    """Send one signed request with no activity; the endpoint's answer."""
    return JSONResponse(found.test(who.partner_id, destination_id))
