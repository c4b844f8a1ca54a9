"""Map one validated event to the row every reader sees (design §4).

Pure: no Kafka, no ClickHouse, no Faust. The readable columns (Action,
Status, Additional information) are computed once here, at write time, so
pages and exports never re-derive them and an old row keeps the text it had.
"""

from __future__ import annotations

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
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
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
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in dict.fromkeys([*old, *new]):
            before, after = old.get(key), new.get(key)
            if before != after:
                parts.append(f"{key}: {render_value(before)} → {render_value(after)}")
    for key, value in details.items():
        if key in ("old", "new") and isinstance(old, Mapping) and isinstance(new, Mapping):
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


def _products(items: list[LineItem]) -> str:
    return ", ".join(dict.fromkeys(item.product_name for item in items))


def normalize(
    event: PartnerAction | Order, raw: bytes, meta: KafkaMeta, ingested_at: datetime
) -> ActivityRow:
    """Map one validated event (and its original bytes) to an activity row."""
    common = {
        "partner_id": event.partner_id,
        "occurred_at": event.occurred_at,
        "event_id": event.event_id,
        "customer_id": event.customer_id,
        "customer_name": event.customer_name,
        "partner_user": event.partner_user,
        "correlation_id": event.correlation_id or "",
        "source": event.source or "",
        "actor_ip": event.actor_ip or "",
        "user_agent": event.user_agent or "",
        "payload": raw.decode("utf-8", errors="replace"),
        "schema_version": SCHEMA_VERSION,
        "kafka_topic": meta.topic,
        "kafka_partition": meta.partition,
        "kafka_offset": meta.offset,
        "ingested_at": ingested_at,
    }
    if isinstance(event, Order):
        return _order_row(event, common)
    return _action_row(event, common)


def _action_row(event: PartnerAction, common: dict[str, Any]) -> ActivityRow:
    action_text = humanize_action(event.action)
    if event.resource_name:
        action_text = f"{action_text}: {event.resource_name}"
    outcome = str(event.outcome)
    status_text = outcome.replace("_", " ").capitalize()
    if event.resource_id:
        status_text = f"{status_text} ({event.resource_type or 'resource'} {event.resource_id})"
    details = event.details or {}
    row: dict[str, Any] = {
        **common,
        "kind": KIND_PARTNER_ACTION,
        "action": event.action,
        "action_text": action_text,
        "status": outcome,
        "status_text": status_text,
        "additional_info": render_details(details),
        "resource_type": event.resource_type or "",
        "resource_id": event.resource_id or "",
        "resource_name": event.resource_name or "",
        "order_id": "",
        "details": orjson.dumps(details).decode() if details else "",
    }
    return cast(ActivityRow, row)


def _order_row(event: Order, common: dict[str, Any]) -> ActivityRow:
    status = str(event.order_status)
    phrase = _ORDER_PHRASES.get(status) or f"Order {status.replace('_', ' ')}"
    items = list(event.line_items)
    details = {
        "currency": event.currency,
        "line_items": [item.model_dump(mode="json", exclude_none=True) for item in items],
    }
    row: dict[str, Any] = {
        **common,
        "kind": KIND_ORDER,
        "action": f"order.{status}",
        "action_text": f"{phrase}: {_products(items)}",
        "status": status,
        "status_text": f"Order {event.order_id}: {status}",
        "additional_info": "; ".join(render_line_item(i, event.currency) for i in items),
        "resource_type": "order",
        "resource_id": event.order_id,
        "resource_name": _products(items),
        "order_id": event.order_id,
        "details": orjson.dumps(details).decode(),
    }
    return cast(ActivityRow, row)
