"""Valid v1 events as plain dicts, for any test that needs one (design §3).

Each call returns a fresh, realistic event that passes `validate_event`;
keyword overrides replace fields, and `OMIT` removes one. The `event_id` is
a new UUID on every call, so two events never collapse into one activity by
accident; pass `event_id=...` when a test needs a fixed one.
"""

from __future__ import annotations

import uuid
from typing import Any, Final


class _Omit:
    """Sentinel type: a field passed as `OMIT` is removed from the event."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Final = _Omit()

PARTNER_ACTION_REQUIRED: Final = (
    "event_id",
    "occurred_at",
    "partner_id",
    "partner_user",
    "customer_id",
    "customer_name",
    "action",
)
ORDER_REQUIRED: Final = (
    "event_id",
    "occurred_at",
    "partner_id",
    "partner_user",
    "customer_id",
    "customer_name",
    "order_id",
    "order_status",
    "line_items",
)
LINE_ITEM_REQUIRED: Final = ("product_name", "quantity")


def _apply(event: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for name, value in overrides.items():
        if value is OMIT:
            event.pop(name, None)
        else:
            event[name] = value
    return event


def valid_line_item(**overrides: Any) -> dict[str, Any]:
    """A complete line item; override or `OMIT` any field."""
    item: dict[str, Any] = {
        "product_name": "Microsoft 365 E3",
        "quantity": 3,
        "offer_id": "CFQ7TTC0LFLX:0001",
        "sku": "CFQ7TTC0LFLZ",
        "unit_price": "33.60",
        "subscription_id": "sub-8f3a",
        "term": "P1Y",
        "billing_cycle": "monthly",
    }
    return _apply(item, overrides)


def valid_partner_action(**overrides: Any) -> dict[str, Any]:
    """A subscription quantity change with every optional field set."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2024-05-01T10:15:30.250+02:00",
        "partner_id": "partner-001",
        "partner_user": "alice@contoso.example",
        "customer_id": "cust-0042",
        "customer_name": "Fabrikam, Inc.",
        "action": "subscription.quantity_change",
        "resource_type": "subscription",
        "resource_id": "sub-8f3a",
        "resource_name": "Microsoft 365 E3",
        "outcome": "succeeded",
        "details": {"old": {"quantity": 5}, "new": {"quantity": 8}},
        "correlation_id": "corr-7d1c",
        "source": "billing-service",
        "actor_ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    }
    return _apply(event, overrides)


def valid_order(**overrides: Any) -> dict[str, Any]:
    """A completed two-line order with every optional field set."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2024-05-01T08:00:00Z",
        "partner_id": "partner-001",
        "partner_user": "alice@contoso.example",
        "customer_id": "cust-0042",
        "customer_name": "Fabrikam, Inc.",
        "order_id": "ord-2024-0001",
        "order_status": "completed",
        "currency": "EUR",
        "line_items": [
            valid_line_item(),
            valid_line_item(
                product_name="Teams Phone Standard",
                quantity=1,
                offer_id="CFQ7TTC0J1FV:0001",
                sku="CFQ7TTC0J1FV",
                unit_price="8.00",
                subscription_id="sub-1b2c",
            ),
        ],
        "correlation_id": "corr-7d1d",
        "source": "ordering-service",
        "actor_ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    }
    return _apply(event, overrides)


def minimal_partner_action(**overrides: Any) -> dict[str, Any]:
    """Only the required fields of a partner action."""
    base = valid_partner_action()
    return _apply({name: base[name] for name in PARTNER_ACTION_REQUIRED}, overrides)


def minimal_order(**overrides: Any) -> dict[str, Any]:
    """Only the required fields of an order, with one minimal line item."""
    base = valid_order()
    event = {name: base[name] for name in ORDER_REQUIRED}
    event["line_items"] = [{"product_name": "Microsoft 365 E3", "quantity": 1}]
    return _apply(event, overrides)
