"""What a destination receives: the activities as the log shows them, as JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from common.timefmt import iso_utc
from schemas.activity import SHOWN_COLUMNS

# The columns a destination receives: what a reader of an activity is shown, without
# the Kafka coordinates, the ingest time and the original payload (the stored row
# keeps those for the audit).
DELIVERED_COLUMNS: Final = SHOWN_COLUMNS


def activity_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """One stored activity row as a destination receives it."""
    out = {name: row[name] for name in DELIVERED_COLUMNS}
    out["occurred_at"] = iso_utc(row["occurred_at"])
    return out


def request_body(destination_id: str, activities: Sequence[Mapping[str, Any]]) -> bytes:
    """The body of one delivery request: the destination and its activities, in order."""
    return orjson.dumps({"destination_id": destination_id, "activities": list(activities)})
