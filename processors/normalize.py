"""Map one validated event to the row every reader sees (docs/contracts.md, The activity record).

Pure: no Kafka, no ClickHouse, no Faust. The readable columns (Action,
Status, Additional information) are computed once here, at write time, so
pages and exports never re-derive them and an old row keeps the text it had.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson

from schemas.activity import KIND_ORDER, KIND_PARTNER_ACTION, ActivityRow
from schemas.events import LineItem, Order, PartnerAction

SCHEMA_VERSION = 1

# Readable phrases for the actions we know; anything else is humanized as-is
# (a new upstream action must still read well, never be rejected).
_ACTION_PHRASES: Mapping[str, str] = {
    "customer.create": "Customer created",
    "customer.update": "Customer updated",
    "customer.delete": "Customer deleted",
    "user.create": "User created",
    "user.update": "User updated",
    "user.delete": "User deleted",
    "user.password_reset": "User password reset",
    "user.role_change": "User role changed",
    "license.assign": "License assigned",
    "license.remove": "License removed",
    "subscription.create": "Subscription created",
    "subscription.quantity_change": "Subscription quantity changed",
    "subscription.suspend": "Subscription suspended",
    "subscription.reactivate": "Subscription reactivated",
    "subscription.cancel": "Subscription cancelled",
    "subscription.renew": "Subscription renewed",
    "export.create": "Activity log exported",
}

_ORDER_PHRASES: Mapping[str, str] = {
    "placed": "Order placed",
    "completed": "Order completed",
    "failed": "Order failed",
    "cancelled": "Order cancelled",
}


@dataclass(frozen=True, slots=True)
class KafkaMeta:
    """Where a message came from: kept on the row for audit and replay."""

    topic: str
    partition: int
    offset: int


def humanize_action(action: str) -> str:
    """`subscription.quantity_change` -> `Subscription quantity changed`, else humanized."""
    phrase = _ACTION_PHRASES.get(action)
    if phrase:
        return phrase
    words = action.replace(".", " ").replace("_", " ").split()
    return " ".join(words).capitalize() if words else action


def render_value(value: Any) -> str:
    """A compact, readable rendering of a details value."""
    kind = type(value)
    if kind is str:
        return cast(str, value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {render_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    return str(value)


def render_details(details: Mapping[str, Any] | None) -> str:
    """Readable details: `old`/`new` pairs as `field: old → new`, other keys as `key: value`."""
    if not details:
        return ""
    parts: list[str] = []
    old, new = details.get("old"), details.get("new")
    paired = isinstance(old, Mapping) and isinstance(new, Mapping)
    if paired:
        assert isinstance(old, Mapping) and isinstance(new, Mapping)
        for key in dict.fromkeys([*old, *new]):
            before, after = old.get(key), new.get(key)
            if before != after:
                parts.append(f"{key}: {render_value(before)} → {render_value(after)}")
    for key, value in details.items():
        if paired and (key == "old" or key == "new"):
            continue
        parts.append(f"{key}: {render_value(value)}")
    return "; ".join(parts)


def render_line_item(item: LineItem, currency: str | None) -> str:
    text = f"{item.quantity} × {item.product_name}"
    extras: list[str] = []
    if item.unit_price is not None:
        extras.append(f"{item.unit_price} {currency}" if currency else item.unit_price)
    if item.term:
        extras.append(item.term)
    if item.billing_cycle:
        extras.append(item.billing_cycle)
    return f"{text} ({', '.join(extras)})" if extras else text


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


def json_text(value: Any) -> str:
    """Compact JSON text of a details value (orjson, or the stdlib for what orjson refuses).

    Why the fallback: the contract lets `details` (and unknown line-item fields)
    carry any JSON, and JSON integers have no size limit, but orjson refuses
    integers beyond 64 bits; such a valid event must still be stored, not
    dead-lettered as a bug (found by the decode fuzzing in `tests/unit/test_fuzz_decode.py`).
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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
    action = event.action
    action_text = _ACTION_PHRASES.get(action) or humanize_action(action)
    if event.resource_name:
        action_text = f"{action_text}: {event.resource_name}"
    outcome = str(event.outcome)
    status_text = outcome.replace("_", " ").capitalize()
    if event.resource_id:
        status_text = f"{status_text} ({event.resource_type or 'resource'} {event.resource_id})"
    details = event.details
    return {
        "partner_id": event.partner_id,
        "occurred_at": event.occurred_at,
        "event_id": event.event_id,
        "kind": KIND_PARTNER_ACTION,
        "action": action,
        # A partner-level action (scope partner) has no customer: empty, never a guess.
        "customer_id": event.customer_id or "",
        "customer_name": event.customer_name or "",
        "partner_user": event.partner_user,
        "action_text": action_text,
        "status": outcome,
        "status_text": status_text,
        "additional_info": render_details(details),
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


def _order_row(event: Order, raw: bytes, meta: KafkaMeta, ingested_at: datetime) -> ActivityRow:
    status = str(event.order_status)
    phrase = _ORDER_PHRASES.get(status) or f"Order {status.replace('_', ' ')}"
    items = event.line_items
    currency = event.currency
    products = _products(items)
    details = {"currency": currency, "line_items": [line_item_json(i) for i in items]}
    return {
        "partner_id": event.partner_id,
        "occurred_at": event.occurred_at,
        "event_id": event.event_id,
        "kind": KIND_ORDER,
        "action": f"order.{status}",
        "customer_id": event.customer_id,
        "customer_name": event.customer_name,
        "partner_user": event.partner_user,
        "action_text": f"{phrase}: {products}",
        "status": status,
        "status_text": f"Order {event.order_id}: {status}",
        "additional_info": "; ".join(render_line_item(i, currency) for i in items),
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


def _products(items: list[LineItem]) -> str:
    return ", ".join(dict.fromkeys(item.product_name for item in items))
