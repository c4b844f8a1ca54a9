"""Kafka topics of the v1 contract (docs/contracts.md): their names, and which one an event goes on.

Other systems depend on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PARTNER_ACTIONS_TOPIC = "activity.partner-actions.v1"
ORDERS_TOPIC = "activity.orders.v1"
DEAD_LETTER_TOPIC = "activity.dead-letter.v1"
# What the worker stored: written after each insert and before its offsets are committed,
# keyed by partner (processors/stored.py). The webhook delivery agent reads it.
STORED_TOPIC = "activity.stored.v1"

SOURCE_TOPICS: tuple[str, ...] = (PARTNER_ACTIONS_TOPIC, ORDERS_TOPIC)
ALL_TOPICS: tuple[str, ...] = (PARTNER_ACTIONS_TOPIC, ORDERS_TOPIC, DEAD_LETTER_TOPIC, STORED_TOPIC)
# The largest record the stored-activity topic takes: an activity's JSON can outgrow the
# event it came from (its readable texts), and one that did not fit would stop ingest.
STORED_TOPIC_MAX_BYTES = 16 * 1024 * 1024
# Topic settings beyond partitions and replication, set when a topic is created.
TOPIC_CONFIGS: Mapping[str, Mapping[str, str]] = {
    STORED_TOPIC: {"max.message.bytes": str(STORED_TOPIC_MAX_BYTES)},
}


def topic_for_event(event: Mapping[str, Any]) -> str:
    """The topic an event belongs on, from its shape: orders carry `order_id` / `line_items`.

    `activitylog produce` reads JSONL with no topic column, so the shape is
    the routing rule; partner actions never carry those two top-level fields
    (an order id in an action goes inside `details`).
    """
    if "line_items" in event or "order_id" in event:
        return ORDERS_TOPIC
    return PARTNER_ACTIONS_TOPIC


# A destination's parked activities (processors/delivery/): one topic per destination, one
# partition, so `activitylog destinations replay` re-sends them in the order they were parked.
DESTINATION_DEAD_LETTER_PREFIX = "activity.destination-dead-letter.v1."


def destination_dead_letter_topic(destination_id: str) -> str:
    """The dead-letter topic of one destination (its id is `dst_` + hex: a valid topic name)."""
    return DESTINATION_DEAD_LETTER_PREFIX + destination_id
