"""What a destination receives: the activities as the log shows them, as JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from common.timefmt import iso_utc

# The columns a destination receives: the page's columns, without the Kafka coordinates,
# the ingest time and the original payload (the stored row keeps those for the audit).
DELIVERED_COLUMNS: Final = (
    "event_id",
    "occurred_at",
    "partner_id",
    "kind",
    "action",
    "customer_id",
    "customer_name",
    "partner_user",
    "action_text",
    "status",
    "status_text",
    "additional_info",
    "resource_type",
    "resource_id",
    "resource_name",
    "order_id",
    "correlation_id",
    "source",
    "actor_ip",
    "user_agent",
    "details",
)


def activity_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """One stored activity row as a destination receives it."""
    out = {name: row[name] for name in DELIVERED_COLUMNS}
    out["occurred_at"] = iso_utc(row["occurred_at"])
    return out


def request_body(destination_id: str, activities: Sequence[Mapping[str, Any]]) -> bytes:
    """The body of one delivery request: the destination and its activities, in order."""
    return orjson.dumps({"destination_id": destination_id, "activities": list(activities)})
