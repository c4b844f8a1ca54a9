"""Reads of the activity table: filtered date ranges, keyset pages, one record, export rows.

Every query is parameterized (`{name:Type}` placeholders); identifiers come
from our constants only. Reads use FINAL so a redelivered event or a
re-inserted batch is never visible twice (design §7).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from activitylog.errors import BadQuery
from activitylog.store import Store
from query.ranges import TimeRange
from schemas.activity import ACTIVITY_TABLE

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50

# Columns of a list item; detail adds `details` parsed and the original `payload`.
LIST_COLUMNS: tuple[str, ...] = (
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
    "details",
)
DETAIL_COLUMNS: tuple[str, ...] = (
    *LIST_COLUMNS,
    "source",
    "actor_ip",
    "user_agent",
    "payload",
    "schema_version",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "ingested_at",
)
# The export's columns (design §4), in the seed's order after the date.
EXPORT_COLUMNS: tuple[str, ...] = (
    "occurred_at",
    "customer_name",
    "action_text",
    "partner_user",
    "status_text",
    "additional_info",
    "customer_id",
    "event_id",
)


@dataclass(frozen=True)
class ActivityFilter:
    """What a reader asked for. `partner_id` None means every partner (an admin key)."""

    range: TimeRange
    partner_id: str | None = None
    customer_id: str | None = None
    customer: str | None = None
    action: str | None = None
    partner_user: str | None = None
    status: str | None = None
    q: str | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        """The WHERE clause and its parameters; user text only ever enters as a parameter."""
        clauses = [
            "occurred_at >= {start:DateTime64(3, 'UTC')}",
            "occurred_at < {end:DateTime64(3, 'UTC')}",
        ]
        params: dict[str, Any] = {"start": self.range.start, "end": self.range.end}
        if self.partner_id is not None:
            clauses.append("partner_id = {partner_id:String}")
            params["partner_id"] = self.partner_id
        if self.customer_id:
            clauses.append("customer_id = {customer_id:String}")
            params["customer_id"] = self.customer_id
        if self.customer:
            clauses.append("positionCaseInsensitiveUTF8(customer_name, {customer:String}) > 0")
            params["customer"] = self.customer
        if self.action:
            # An exact dotted verb, or a prefix such as `subscription` / `order`.
            clauses.append(
                "(action = {action:String} OR startsWith(action, {action_prefix:String}))"
            )
            params["action"] = self.action
            params["action_prefix"] = self.action.rstrip(".") + "."
        if self.partner_user:
            clauses.append("partner_user = {partner_user:String}")
            params["partner_user"] = self.partner_user
        if self.status:
            clauses.append("status = {status:String}")
            params["status"] = self.status
        if self.q:
            clauses.append(
                "multiSearchAnyCaseInsensitiveUTF8(concat(customer_name, ' ', customer_id, ' ', "
                "action_text, ' ', partner_user, ' ', status_text, ' ', additional_info, ' ', "
                "event_id, ' ', order_id, ' ', resource_id), [{q:String}])"
            )
            params["q"] = self.q
        return " AND ".join(clauses), params


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(occurred_at: datetime, event_id: str) -> str:
    ms = int(occurred_at.replace(tzinfo=occurred_at.tzinfo or UTC).timestamp() * 1000)
    return base64.urlsafe_b64encode(orjson.dumps([ms, event_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ms, event_id = orjson.loads(raw)
        if not isinstance(ms, int) or not isinstance(event_id, str):
            raise ValueError
        return datetime.fromtimestamp(ms / 1000, UTC), event_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadQuery("cursor", "is not a cursor this server issued") from None


def _select(columns: Sequence[str]) -> str:
    return ", ".join(columns)


def list_activity(
    store: Store, flt: ActivityFilter, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page:
    """One page, newest first; the keyset cursor stays stable while rows keep arriving."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery("limit", f"must be between 1 and {MAX_LIMIT}")
    where, params = flt.where()
    if cursor:
        at, event_id = decode_cursor(cursor)
        where += (
            " AND (occurred_at, event_id) < ({cursor_at:DateTime64(3, 'UTC')}, {cursor_id:String})"
        )
        params |= {"cursor_at": at, "cursor_id": event_id}
    params["limit"] = limit + 1
    sql = (
        f"SELECT {_select(LIST_COLUMNS)} FROM {ACTIVITY_TABLE} FINAL WHERE {where} "  # noqa: S608
        "ORDER BY occurred_at DESC, event_id DESC LIMIT {limit:UInt32}"
    )
    rows = store.query_dicts(sql, params)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [present(row) for row in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(last["occurred_at"], last["event_id"])
    return Page(items=items, next_cursor=next_cursor)


def get_activity(store: Store, event_id: str, partner_id: str | None) -> dict[str, Any] | None:
    """One record with its full details; None if absent or another partner's."""
    params: dict[str, Any] = {"event_id": event_id}
    where = "event_id = {event_id:String}"
    if partner_id is not None:
        where += " AND partner_id = {partner_id:String}"
        params["partner_id"] = partner_id
    sql = f"SELECT {_select(DETAIL_COLUMNS)} FROM {ACTIVITY_TABLE} FINAL WHERE {where} LIMIT 1"  # noqa: S608
    rows = store.query_dicts(sql, params)
    if not rows:
        return None
    item = present(rows[0])
    item["payload"] = _json_or_text(rows[0]["payload"])
    return item


def iter_export_rows(store: Store, flt: ActivityFilter) -> Iterator[tuple[Any, ...]]:
    """Every matching row in the stable export order (occurred_at, then event_id)."""
    where, params = flt.where()
    sql = (
        f"SELECT {_select(EXPORT_COLUMNS)} FROM {ACTIVITY_TABLE} FINAL "  # noqa: S608
        f"WHERE {where} ORDER BY occurred_at, event_id"
    )
    with store.stream_blocks(sql, params) as blocks:
        for block in blocks:
            yield from block


def count_activity(store: Store, flt: ActivityFilter) -> int:
    where, params = flt.where()
    sql = f"SELECT count() FROM {ACTIVITY_TABLE} FINAL WHERE {where}"  # noqa: S608
    return int(store.query_rows(sql, params)[0][0])


def present(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the API shows it: UTC ISO timestamps, details as JSON."""
    item = dict(row)
    for key in ("occurred_at", "ingested_at"):
        if isinstance(item.get(key), datetime):
            item[key] = iso_utc(item[key])
    if "details" in item:
        item["details"] = _json_or_text(item["details"]) if item["details"] else None
    if "customer_id" in item:
        item["subscriptions_url"] = (
            f"/customers/{quote(item['customer_id'], safe='')}/subscriptions"
        )
    return item


def iso_utc(value: datetime) -> str:
    """`2026-11-27T10:00:00.123Z` (stored values come back naive, in UTC)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_or_text(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
