"""A customer's subscriptions, derived from the activity log itself.

There is no subscription table upstream of us: the log already holds what
happened to each subscription, so the view is a fold over it, oldest first:

* a completed order's line items with a `subscription_id` open a subscription
  (product, quantity) or, for one already known, add the ordered seats;
* `subscription.create` (details.quantity), `subscription.quantity_change`
  (details.new.quantity), `subscription.suspend`, `subscription.reactivate`
  and `subscription.cancel`, when they succeeded, set quantity or status.

Only succeeded actions change state: a failed or in-progress one did not
happen (yet); its resolution arrives later as its own event. `fold` is pure
and unit-tested; `customer_subscriptions` reads the customer's rows from
`activity_by_customer`, sorted by customer first, so the read costs the
customer's rows, not the table's (docs/architecture.md, Access paths).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.store import Store
from common.timefmt import iso_utc
from query.reads.records import json_or_text
from query.reads.scope import key_within_partner
from schemas.activity import KIND_ORDER
from schemas.readable.render import coded
from schemas.tables import BY_CUSTOMER_TABLE

_STATUS_AFTER: Mapping[str, str] = {
    "subscription.create": "active",
    "subscription.suspend": "suspended",
    "subscription.reactivate": "active",
    "subscription.cancel": "cancelled",
}
# Active ones first on the page, then suspended, then cancelled.
_STATUS_RANK: Mapping[str, int] = {"active": 0, "suspended": 1, "cancelled": 2}


@dataclass(frozen=True)
class LogEvent:
    """The parts of an activity row the fold reads."""

    occurred_at: datetime
    kind: str
    action: str
    status: str
    resource_id: str
    resource_name: str
    order_id: str
    details: str


@dataclass
class Subscription:
    subscription_id: str
    product: str
    quantity: int | None
    status: str
    last_change_at: datetime
    last_action: str
    order_id: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "product": self.product,
            "quantity": self.quantity,
            "status": self.status,
            "last_change_at": iso_utc(self.last_change_at),
            "last_action": self.last_action,
            "order_id": self.order_id,
        }


def _details(text: str) -> dict[str, Any]:
    """The details object the fold reads; anything else (no JSON, not an object) is empty."""
    value = json_or_text(text)
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def fold(events: Iterable[LogEvent]) -> list[Subscription]:
    """Replay a customer's events (oldest first) into their subscriptions' current state."""
    subs: dict[str, Subscription] = {}
    for ev in events:
        details = _details(ev.details)
        if ev.kind == KIND_ORDER:
            if ev.status == "completed":
                _apply_order(subs, ev, details)
            continue
        if not ev.action.startswith("subscription.") or ev.status != "succeeded":
            continue
        if not ev.resource_id:
            continue
        _apply_action(subs, ev, details)
    return sorted(
        subs.values(),
        key=lambda s: (_STATUS_RANK.get(s.status, 3), s.product.casefold(), s.subscription_id),
    )


def _apply_order(subs: dict[str, Subscription], ev: LogEvent, details: dict[str, Any]) -> None:
    items = details.get("line_items")
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("subscription_id"), str):
            continue
        sid = item["subscription_id"]
        quantity = _int(item.get("quantity"))
        sub = subs.get(sid)
        if sub is None:
            subs[sid] = Subscription(
                sid,
                str(item.get("product_name") or ""),
                quantity,
                "active",
                ev.occurred_at,
                ev.action,
                ev.order_id or None,
            )
            continue
        # Seats added to a subscription the customer has; a following
        # quantity_change, when upstream sends one, restates the total.
        if sub.quantity is not None and quantity is not None:
            sub.quantity += quantity
        sub.last_change_at, sub.last_action = ev.occurred_at, ev.action
        sub.order_id = ev.order_id or sub.order_id


def _apply_action(subs: dict[str, Subscription], ev: LogEvent, details: dict[str, Any]) -> None:
    sid = ev.resource_id
    sub = subs.get(sid)
    if sub is None:  # first seen through an action (its order is older than the log)
        sub = subs[sid] = Subscription(
            sid, ev.resource_name, None, "active", ev.occurred_at, ev.action, None
        )
    if ev.resource_name:
        sub.product = ev.resource_name
    if ev.action == "subscription.create" and _int(details.get("quantity")) is not None:
        sub.quantity = _int(details.get("quantity"))
    new = details.get("new")
    if isinstance(new, dict):
        if _int(new.get("quantity")) is not None:
            sub.quantity = _int(new.get("quantity"))
        if isinstance(new.get("status"), str):
            sub.status = new["status"]
    sub.status = _STATUS_AFTER.get(ev.action, sub.status)
    if isinstance(details.get("order_id"), str):
        sub.order_id = details["order_id"]
    sub.last_change_at, sub.last_action = ev.occurred_at, ev.action


def customer_subscriptions(
    store: Store, customer_id: str, partner_id: str | None, lang: str = "en"
) -> dict[str, Any] | None:
    """`{"customer_id", "customer_name", "items"}`; None when the caller has no such customer.

    Each item's `status` and `last_action` are codes; `status_text` and
    `last_action_text` say them in `lang`.
    """
    where, params = key_within_partner("customer_id", customer_id, partner_id)
    name_sql = (
        f"SELECT argMax(customer_name, occurred_at), count() FROM {BY_CUSTOMER_TABLE} "  # noqa: S608
        f"WHERE {where}"
    )
    name, count = store.query_rows(name_sql, params)[0]
    if not count:
        return None
    # Identifiers are our constants; values are parameters. Why PREWHERE: a WHERE runs
    # after FINAL's merge, so every row of the granules that may hold the customer, in
    # every part, would go through the merge (on a fresh 8M-row store, 9 parts: 54 ms
    # instead of 19). The customer and partner are sort-key columns, so an event's
    # copies are kept or dropped together; the conditions on other columns stay after.
    events_sql = (
        "SELECT occurred_at, kind, action, status, resource_id, resource_name, order_id, "  # noqa: S608
        f"details FROM {BY_CUSTOMER_TABLE} FINAL PREWHERE {where} WHERE "
        "((kind = 'order' AND status = 'completed') "
        "OR (startsWith(action, 'subscription.') AND status = 'succeeded')) "
        "ORDER BY occurred_at, event_id"
    )
    events = (LogEvent(*row) for row in store.query_rows(events_sql, params))
    return {
        "customer_id": customer_id,
        "customer_name": name,
        "items": [with_texts(sub.as_json(), lang) for sub in fold(events)],
    }


def with_texts(item: dict[str, Any], lang: str) -> dict[str, Any]:
    """A subscription item with its status and last action readable in `lang`."""
    item["status_text"] = coded(lang, "subscription_status", item["status"])
    item["last_action_text"] = coded(lang, "action", item["last_action"])
    return item
