"""The stored-activity topic's records: what the worker stored, as a destination receives it.

After each insert, and before acknowledging the batch, the worker publishes its
rows on `schemas.topics.STORED_TOPIC`: one record per partner per batch (more
when a partner's share passes `MAX_RECORD_BYTES`), keyed by the partner id, the
value a JSON array of that partner's activities in the order they were stored,
each in the shape a webhook destination receives (`processors/delivery/payload.py`).
Keyed by partner, one partner's activities stay on one partition in the order the
worker stored them, so the delivery agent reads each destination's activities in
one order without validating anything again (docs/architecture.md, Delivery).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from processors.delivery.payload import activity_json
from schemas.activity import ActivityRow

# A record's activities, at most this many bytes of JSON (one larger activity goes alone;
# the topic accepts records up to `schemas.topics.STORED_TOPIC_MAX_BYTES`).
MAX_RECORD_BYTES: Final = 256 * 1024


def stored_records(rows: Sequence[ActivityRow]) -> list[tuple[bytes, bytes]]:
    """(key, value) of the records that announce `rows`, in row order within each partner."""
    parts: dict[str, list[bytes]] = {}
    for row in rows:
        parts.setdefault(row["partner_id"], []).append(orjson.dumps(activity_json(row)))
    records: list[tuple[bytes, bytes]] = []
    for partner_id, encoded in parts.items():
        key = partner_id.encode()
        chunk: list[bytes] = []
        size = 0
        for one in encoded:
            if chunk and size + len(one) > MAX_RECORD_BYTES:
                records.append((key, _array(chunk)))
                chunk, size = [], 0
            chunk.append(one)
            size += len(one) + 1
        records.append((key, _array(chunk)))
    return records


def read_stored(value: bytes) -> list[dict[str, Any]]:
    """The activities of one record, in order."""
    activities: list[dict[str, Any]] = orjson.loads(value)
    return activities


def _array(encoded: list[bytes]) -> bytes:
    return b"[" + b",".join(encoded) + b"]"
