"""Partner-scoped reads: a page of activity, one record with its lifecycle, a customer's view."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from common.errors import NotFound
from query.http.auth import CallerDep
from query.http.lang import LangDep
from query.http.params import FilterDep
from query.http.services import ServicesDep
from query.reads.lifecycle import diff_changes, lifecycle
from query.reads.pages import DEFAULT_LIMIT, MAX_LIMIT, list_activity
from query.reads.records import get_activity
from query.reads.subscriptions import customer_subscriptions
from schemas.readable.catalogs import LANGUAGES, messages

# `GET /api/v1/activity`: included before the direct export (`/api/v1/activity/export`),
# whose path must in turn come before `/api/v1/activity/{event_id}`.
pages = APIRouter(tags=["activity"])
records = APIRouter()


@pages.get("/api/v1/activity")
def activity(
    services: ServicesDep,
    flt: FilterDep,
    lang: LangDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> JSONResponse:
    page = list_activity(services.store, flt, limit=limit, cursor=cursor or None, lang=lang)
    body = {"items": page.items, "next_cursor": page.next_cursor, "lang": lang}
    return JSONResponse(body, headers={"Content-Language": lang, "Vary": "Accept-Language"})


@records.get("/api/v1/activity/{event_id}", tags=["activity"])
def activity_detail(
    event_id: str, who: CallerDep, services: ServicesDep, lang: LangDep
) -> JSONResponse:
    """One record, with its lifecycle (same correlation id) and its before/after changes."""
    item = get_activity(services.store, event_id, who.partner_id, lang)
    if item is None:
        raise NotFound(f"no activity {event_id!r}")
    # Additive fields: the lifecycle reads only the record's own partner.
    item["lifecycle"] = lifecycle(services.store, item, lang)
    item["changes"] = diff_changes(item.get("details"))
    return JSONResponse(item, headers={"Content-Language": lang, "Vary": "Accept-Language"})


@records.get("/api/v1/customers/{customer_id}/subscriptions", tags=["customers"])
def subscriptions(
    customer_id: str, who: CallerDep, services: ServicesDep, lang: LangDep
) -> JSONResponse:
    """The customer's subscriptions as derived from orders and subscription actions."""
    view = customer_subscriptions(services.store, customer_id, who.partner_id, lang)
    if view is None:
        raise NotFound(f"no customer {customer_id!r}")
    return JSONResponse(view, headers={"Content-Language": lang, "Vary": "Accept-Language"})


@records.get("/api/v1/texts", tags=["activity"])
def texts(lang: LangDep) -> JSONResponse:
    """The message catalog of a language, for the page's own labels of codes (no key needed).

    The page names a detail's fields, terms and billing cycles with these
    texts, the same the readable columns are made of (`schemas/readable`).
    """
    body = {"lang": lang, "languages": list(LANGUAGES), "messages": dict(messages(lang))}
    return JSONResponse(body, headers={"Content-Language": lang, "Vary": "Accept-Language"})
