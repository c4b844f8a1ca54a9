"""Kafka topics of the v1 contract (docs/contracts.md): their names, and which one an event goes on.

Other systems depend on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PARTNER_ACTIONS_TOPIC = "activity.partner-actions.v1"
ORDERS_TOPIC = "activity.orders.v1"
DEAD_LETTER_TOPIC = "activity.dead-letter.v1"

SOURCE_TOPICS: tuple[str, ...] = (PARTNER_ACTIONS_TOPIC, ORDERS_TOPIC)
ALL_TOPICS: tuple[str, ...] = (PARTNER_ACTIONS_TOPIC, ORDERS_TOPIC, DEAD_LETTER_TOPIC)


def topic_for_event(event: Mapping[str, Any]) -> str:
    """The topic an event belongs on, from its shape: orders carry `order_id` / `line_items`.

    `activitylog produce` reads JSONL with no topic column, so the shape is
    the routing rule; partner actions never carry those two top-level fields
    (an order id in an action goes inside `details`).
    """
    if "line_items" in event or "order_id" in event:
        return ORDERS_TOPIC
    return PARTNER_ACTIONS_TOPIC
