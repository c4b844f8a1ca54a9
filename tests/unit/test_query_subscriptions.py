"""The subscriptions view is a pure fold over a customer's events, oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from query.reads.subscriptions import LogEvent, fold

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _at(step: int) -> datetime:
    return T0 + timedelta(hours=step)


def completed_order(step: int, order_id: str, *lines: tuple[str, str, int]) -> LogEvent:
    items = [{"product_name": p, "quantity": q, "subscription_id": s} for s, p, q in lines]
    details = orjson.dumps({"currency": "EUR", "line_items": items}).decode()
    return LogEvent(
        _at(step), "order", "order.completed", "completed", order_id, "", order_id, details
    )


def sub_action(
    step: int, verb: str, sid: str, outcome: str = "succeeded", **details: object
) -> LogEvent:
    return LogEvent(
        _at(step),
        "partner_action",
        f"subscription.{verb}",
        outcome,
        sid,
        "Visio Plan 2",
        "",
        orjson.dumps(details).decode() if details else "",
    )


def test_an_order_opens_subscriptions_and_actions_change_them() -> None:
    subs = fold(
        [
            completed_order(0, "ord-1", ("s1", "Visio Plan 2", 3), ("s2", "Teams Phone", 1)),
            sub_action(1, "create", "s1", quantity=3, order_id="ord-1"),
            sub_action(2, "quantity_change", "s1", old={"quantity": 3}, new={"quantity": 8}),
            sub_action(3, "suspend", "s1", reason="unpaid"),
        ]
    )
    by_id = {s.subscription_id: s for s in subs}
    assert by_id["s1"].quantity == 8 and by_id["s1"].status == "suspended"
    assert by_id["s1"].last_action == "subscription.suspend" and by_id["s1"].last_change_at == _at(
        3
    )
    assert by_id["s1"].order_id == "ord-1"
    assert by_id["s2"].status == "active" and by_id["s2"].quantity == 1
    assert by_id["s2"].last_action == "order.completed"
    # Active first, then suspended.
    assert [s.subscription_id for s in subs] == ["s2", "s1"]


def test_failed_and_pending_actions_change_nothing() -> None:
    subs = fold(
        [
            completed_order(0, "ord-1", ("s1", "Visio Plan 2", 2)),
            sub_action(1, "cancel", "s1", "failed", error="PaymentDeclined"),
            sub_action(2, "cancel", "s1", "in_progress"),
            sub_action(3, "quantity_change", "s1", "failed", new={"quantity": 50}),
        ]
    )
    assert [(s.status, s.quantity, s.last_action) for s in subs] == [
        ("active", 2, "order.completed")
    ]


def test_add_on_orders_add_seats_and_the_lifecycle_ends_cancelled() -> None:
    subs = fold(
        [
            completed_order(0, "ord-1", ("s1", "Visio Plan 2", 2)),
            completed_order(1, "ord-2", ("s1", "Visio Plan 2", 3)),
            sub_action(
                2,
                "quantity_change",
                "s1",
                old={"quantity": 2},
                new={"quantity": 5},
                order_id="ord-2",
            ),
            sub_action(3, "suspend", "s1"),
            sub_action(
                4, "reactivate", "s1", old={"status": "suspended"}, new={"status": "active"}
            ),
            sub_action(5, "cancel", "s1", previous_status="active"),
        ]
    )
    (sub,) = subs
    assert (sub.quantity, sub.status, sub.order_id) == (5, "cancelled", "ord-2")
    assert sub.as_json()["last_change_at"] == "2026-11-01T14:00:00.000Z"


def test_orders_that_did_not_complete_and_other_actions_are_ignored() -> None:
    placed = completed_order(0, "ord-1", ("s1", "Visio Plan 2", 2))
    placed = LogEvent(
        placed.occurred_at, "order", "order.placed", "placed", "ord-1", "", "ord-1", placed.details
    )
    other = LogEvent(_at(1), "partner_action", "license.assign", "succeeded", "s9", "x", "", "")
    garbage = LogEvent(
        _at(2), "partner_action", "subscription.suspend", "succeeded", "s3", "P", "", "{not json"
    )
    subs = fold([placed, other, garbage])
    # A subscription first seen through an action (its order predates the log) still shows.
    assert [(s.subscription_id, s.status, s.quantity, s.product) for s in subs] == [
        ("s3", "suspended", None, "P")
    ]
