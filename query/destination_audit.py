"""Destinations are audited: adding or removing one becomes an activity of the partner's log.

As an export is (`query/manifests/audit.py`, whose publisher carries these too): a
partner-level action (`"scope": "partner"`, no customer, Kafka key the partner id)
on `activity.partner-actions.v1`, `destination.create` or `destination.delete`, by
whoever did it (the API key's label, or `os:<user>` for the CLI). Its event id
derives from the action and the destination id (UUID v5), so recording it again
gives the same single activity. The details name the destination, the host it
sends to and its filters; never the URL's path or query (a receiver may keep a
token there) nor the secret.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from common.timefmt import iso_utc
from schemas.destinations import Destination
from schemas.events import Scope

DESTINATION_CREATE: Final = "destination.create"
DESTINATION_DELETE: Final = "destination.delete"
RESOURCE_TYPE: Final = "destination"
# Fixed namespace of these events' ids: uuid5(namespace, "<action>:<destination id>").
EVENT_ID_NAMESPACE: Final = uuid.UUID("0b6f7a52-93d4-5c1e-8e2a-4d7c9f10b3e6")
UNKNOWN_USER: Final = "unknown"


class AuditSink(Protocol):
    """Where audit activities go (`query.manifests.audit.ExportAudit`): never raises or waits."""

    def record_action(self, event: dict[str, Any]) -> None: ...


def audit_event_id(action: str, destination_id: str) -> str:
    """The event id of the activity recording `action` on a destination: one per pair."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{action}:{destination_id}"))


def destination_event(
    action: str, destination: Destination, *, by: str, at: datetime
) -> dict[str, Any]:
    """The partner action recording that `by` added or removed `destination` at `at`."""
    host = urlsplit(destination.url).hostname or ""
    details: dict[str, Any] = {
        "destination_id": destination.destination_id,
        "host": host,
        "actions": list(destination.actions),
        "kinds": list(destination.kinds),
        "customers": list(destination.customers),
    }
    return {
        "event_id": audit_event_id(action, destination.destination_id),
        "occurred_at": iso_utc(at),
        "partner_id": destination.partner_id,
        "partner_user": by or UNKNOWN_USER,
        "scope": Scope.PARTNER.value,
        "action": action,
        "resource_type": RESOURCE_TYPE,
        "resource_id": destination.destination_id,
        "resource_name": host,
        "details": details,
        "correlation_id": destination.destination_id,
    }
