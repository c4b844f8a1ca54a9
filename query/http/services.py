"""What the routes work with, held once on the app: `request.app.state.services`.

One typed holder instead of closures over `create_api`'s arguments: a route
names the services it needs by its `ServicesDep` parameter, and a test can
build the app around any store, clock or job runner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from common.api_keys import KeyRing
from common.settings import Settings
from common.store import Store
from query.destination_audit import AuditSink
from query.http.limits import ApiLimits
from query.jobs.runner import ExportJobRunner
from query.manifests.ledger import ExportLedger

# The health of what runs beside the API (the worker), merged into `/healthz`.
HealthProbe = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class Services:
    """The API's collaborators; `jobs` None: this server runs no export jobs (503).

    `keys` None: no keys configured, every caller sees every partner (loopback only).
    """

    store: Store
    settings: Settings
    limits: ApiLimits
    ledger: ExportLedger
    jobs: ExportJobRunner | None
    now: Callable[[], datetime]
    health: HealthProbe | None
    keys: KeyRing | None = None
    audit: AuditSink | None = None  # records destinations added and removed


def services(request: Request) -> Services:
    """The dependency giving a route the app's services."""
    held = request.app.state.services
    if not isinstance(held, Services):
        raise TypeError("the app was not built by create_api: it holds no services")
    return held


ServicesDep = Annotated[Services, Depends(services)]
