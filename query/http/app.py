"""The HTTP API (docs/contracts.md): partner-scoped reads and exports, health and metrics.

`create_api` composes the app: the services it is given (held on
`app.state`, reached by the routes' typed dependencies), the request limits,
one road for every error (query/http/errors.py), the routes of
query/http/routes/, the web page, and an OpenAPI document that declares the
errors the API really answers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from common.api_keys import KeyRing, key_entries, server_secret
from common.settings import Settings
from common.store import Store
from query.destination_audit import AuditSink
from query.http.errors import install_error_handlers
from query.http.limits import ApiLimits, RequestLimits
from query.http.openapi import declare_error_responses
from query.http.pages import register_pages
from query.http.routes import (
    activity,
    destinations,
    exports,
    history,
    manifests,
    operations,
    schedules,
)
from query.http.routes import jobs as job_routes
from query.http.services import HealthProbe, Services
from query.jobs.runner import ExportJobRunner
from query.manifests.ledger import ExportLedger


def create_api(
    store: Store,
    settings: Settings,
    *,
    health: HealthProbe | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    jobs: ExportJobRunner | None = None,
    ledger: ExportLedger | None = None,
    audit: AuditSink | None = None,
) -> FastAPI:
    """Build the app around an open store; `settings.api_keys` None means no authentication.

    `ledger` seals every export's manifest (default: one on `store`, signing
    with `settings`' key when set); `jobs` None answers 503 on the job routes; `audit`
    records the destinations added and removed (None: not recorded).
    """
    app = FastAPI(
        title="activitylog",
        version="1",
        description="Partner activity log: date-range reads, details and exports.",
        docs_url=None,
        redoc_url=None,
    )
    limits = ApiLimits.from_settings(settings)
    app.state.services = Services(
        store=store,
        settings=settings,
        limits=limits,
        ledger=ledger or ExportLedger(store, settings),
        jobs=jobs,
        now=now,
        health=health,
        keys=key_ring(settings),
        audit=audit,
    )
    app.add_middleware(RequestLimits, limits=limits)  # before anything else runs
    install_error_handlers(app)
    app.include_router(operations.router)
    # In this order: `/api/v1/activity/export` must match before `/api/v1/activity/{event_id}`.
    app.include_router(activity.pages)
    app.include_router(exports.router)
    app.include_router(activity.records)
    app.include_router(history.router)
    app.include_router(job_routes.router)
    app.include_router(manifests.router)
    app.include_router(schedules.router)
    app.include_router(destinations.router)
    register_pages(app)  # `/`, the Subscriptions page and `/static/...` (no API key: no data)
    declare_error_responses(app)  # the 4xx/5xx each operation really answers, in /openapi.json
    return app


def key_ring(settings: Settings) -> KeyRing | None:
    """The configured API keys as HMACs under the server secret; None without keys."""
    if settings.api_keys is None:
        return None
    secret = server_secret(settings.api_key_secret, settings.state_dir)
    return KeyRing(key_entries(settings.api_keys), secret)
