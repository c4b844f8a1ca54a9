"""The stored-activity topic's records: what the worker stored, in the shape a destination reads.

After each insert, and before acknowledging the batch, the worker publishes its
rows on `schemas.topics.STORED_TOPIC`: one record per partner per batch (more
when a partner's share passes `MAX_RECORD_BYTES`), keyed by the partner id, in
the order they were stored. Keyed by partner, one partner's activities stay on
one partition in that order, so the delivery agent reads each destination's
activities in one order without validating anything again (docs/architecture.md,
Delivery).

A record is `{"columns": [...], "rows": [[...], ...]}`: the columns a webhook
destination receives (`processors/delivery/payload.py`), named once, then one
array of values per activity. The worker pays for one orjson call per record
and no dictionary per row (every row is encoded, whether a destination wants it
or not); the agent builds the activity objects only for the partners it
delivers to. `read_stored` gives exactly what `activity_json` gives for the row.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import orjson
from aiokafka.partitioner import murmur2

from common.timefmt import iso_utc
from processors.delivery.payload import DELIVERED_COLUMNS
from schemas.activity import ActivityRow

# A record's bytes, at most (one activity larger than this goes alone; the topic accepts
# records up to `schemas.topics.STORED_TOPIC_MAX_BYTES`).
MAX_RECORD_BYTES: Final = 256 * 1024
_VALUES = operator.itemgetter(*DELIVERED_COLUMNS)
# Datetimes as ISO 8601 in UTC with `Z`; `read_stored` cuts them to milliseconds.
_OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def stored_records(rows: Sequence[ActivityRow]) -> list[tuple[bytes, bytes]]:
    """(key, value) of the records that announce `rows`, in row order within each partner."""
    groups: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault(row["partner_id"], []).append(_VALUES(row))
    records: list[tuple[bytes, bytes]] = []
    for partner_id, values in groups.items():
        _encode(partner_id.encode(), values, records)
    return records


def partition_of(key: bytes, partitions: int) -> int:
    """The partition a record keyed `key` is on: the producer's default partitioner (murmur2,
    as Kafka's Java client and aiokafka, under Faust, compute it)."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


def read_stored(value: bytes) -> list[dict[str, Any]]:
    """The activities of one record, in order, each as a destination receives it."""
    record = orjson.loads(value)
    names: list[str] = record["columns"]
    at = names.index("occurred_at")
    activities: list[dict[str, Any]] = []
    for values in record["rows"]:
        activity = dict(zip(names, values, strict=True))
        activity["occurred_at"] = _milliseconds(values[at])
        activities.append(activity)
    return activities


def _encode(key: bytes, values: list[tuple[Any, ...]], out: list[tuple[bytes, bytes]]) -> None:
    """Append `values` as one record, or as several of at most `MAX_RECORD_BYTES` each."""
    encoded = orjson.dumps({"columns": DELIVERED_COLUMNS, "rows": values}, option=_OPTIONS)
    if len(encoded) <= MAX_RECORD_BYTES or len(values) == 1:
        out.append((key, encoded))
        return
    parts = -(-len(encoded) // MAX_RECORD_BYTES)
    step = -(-len(values) // parts)
    for start in range(0, len(values), step):
        _encode(key, values[start : start + step], out)


def _milliseconds(text: str) -> str:
    """orjson's `2026-11-20T10:00:00.123456Z` (or `...:00Z`) as `iso_utc` writes it."""
    if text.endswith("Z"):
        if len(text) == 20:
            return text[:19] + ".000Z"
        if len(text) >= 24 and text[19] == ".":
            return text[:23] + "Z"
    return iso_utc(datetime.fromisoformat(text))
