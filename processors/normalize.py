"""Map one validated event to the row every reader sees (docs/contracts.md, The activity record).

Pure: no Kafka, no ClickHouse, no Faust. The stored readable columns
(`action_text`, `status_text`, `additional_info`) are the English rendering
of `schemas/readable` (the text search `q` and SQL readers of the table read
them); pages and exports render them again at read time in the caller's
language (docs/contracts.md, Readable columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from schemas.activity import KIND_ORDER, KIND_PARTNER_ACTION, ActivityRow
from schemas.events import LineItem, Order, PartnerAction
from schemas.json_text import json_text
from schemas.readable.render import render_parsed

SCHEMA_VERSION = 1
# The language of the readable columns stored with each row.
STORED_LANGUAGE: Final = "en"


@dataclass(frozen=True, slots=True)
class KafkaMeta:
    """Where a message came from: kept on the row for audit and replay."""

    topic: str
    partition: int
    offset: int


def line_item_json(item: LineItem) -> dict[str, Any]:
    """The line item as JSON data without null fields, unknown fields kept.

    Equal to `item.model_dump(mode="json", exclude_none=True)` (every field
    is already a JSON type) at a fraction of its cost: the worker does this
    for every line of every order.
    """
    data = {k: v for k, v in item.__dict__.items() if v is not None}
    extra = item.__pydantic_extra__
    if extra:
        data.update((k, v) for k, v in extra.items() if v is not None)
    return data


def normalize(
    event: PartnerAction | Order, raw: bytes, meta: KafkaMeta, ingested_at: datetime
) -> ActivityRow:
    """Map one validated event (and its original bytes) to an activity row.

    The dict is built in one literal, keys in `ACTIVITY_COLUMN_NAMES` order,
    so the batch step can lay rows out as columns by position (`to_columns`).
    """
    if type(event) is Order:
        return _order_row(event, raw, meta, ingested_at)
    return _action_row(cast(PartnerAction, event), raw, meta, ingested_at)


def _action_row(
    event: PartnerAction, raw: bytes, meta: KafkaMeta, ingested_at: datetime
) -> ActivityRow:
    details = event.details
    row: ActivityRow = {
        "partner_id": event.partner_id,
        "occurred_at": event.occurred_at,
        "event_id": event.event_id,
        "kind": KIND_PARTNER_ACTION,
        "action": event.action,
        # A partner-level action (scope partner) has no customer: empty, never a guess.
        "customer_id": event.customer_id or "",
        "customer_name": event.customer_name or "",
        "partner_user": event.partner_user,
        "action_text": "",
        "status": str(event.outcome),
        "status_text": "",
        "additional_info": "",
        "resource_type": event.resource_type or "",
        "resource_id": event.resource_id or "",
        "resource_name": event.resource_name or "",
        "order_id": "",
        "correlation_id": event.correlation_id or "",
        "source": event.source or "",
        "actor_ip": event.actor_ip or "",
        "user_agent": event.user_agent or "",
        "details": json_text(details) if details else "",
        "payload": raw.decode("utf-8", errors="replace"),
        "schema_version": SCHEMA_VERSION,
        "kafka_topic": meta.topic,
        "kafka_partition": meta.partition,
        "kafka_offset": meta.offset,
        "ingested_at": ingested_at,
    }
    return _with_readable(row, details)


def _order_row(event: Order, raw: bytes, meta: KafkaMeta, ingested_at: datetime) -> ActivityRow:
    status = str(event.order_status)
    items = event.line_items
    currency = event.currency
    products = _products(items)
    details = {"currency": currency, "line_items": [line_item_json(i) for i in items]}
    row: ActivityRow = {
        "partner_id": event.partner_id,
        "occurred_at": event.occurred_at,
        "event_id": event.event_id,
        "kind": KIND_ORDER,
        "action": f"order.{status}",
        "customer_id": event.customer_id,
        "customer_name": event.customer_name,
        "partner_user": event.partner_user,
        "action_text": "",
        "status": status,
        "status_text": "",
        "additional_info": "",
        "resource_type": "order",
        "resource_id": event.order_id,
        "resource_name": products,
        "order_id": event.order_id,
        "correlation_id": event.correlation_id or "",
        "source": event.source or "",
        "actor_ip": event.actor_ip or "",
        "user_agent": event.user_agent or "",
        "details": json_text(details),
        "payload": raw.decode("utf-8", errors="replace"),
        "schema_version": SCHEMA_VERSION,
        "kafka_topic": meta.topic,
        "kafka_partition": meta.partition,
        "kafka_offset": meta.offset,
        "ingested_at": ingested_at,
    }
    return _with_readable(row, details)


def _with_readable(row: ActivityRow, details: Any) -> ActivityRow:
    """Fill the stored readable columns in place (their keys keep their position)."""
    readable = render_parsed(row, details, STORED_LANGUAGE)
    row["action_text"] = readable.action_text
    row["status_text"] = readable.status_text
    row["additional_info"] = readable.additional_info
    return row


def _products(items: list[LineItem]) -> str:
    return ", ".join(dict.fromkeys(item.product_name for item in items))
