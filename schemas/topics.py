"""Kafka topic names of the v1 contract (docs/contracts.md). Other systems depend on them."""

from __future__ import annotations

PARTNER_ACTIONS_TOPIC = "activity.partner-actions.v1"
ORDERS_TOPIC = "activity.orders.v1"
DEAD_LETTER_TOPIC = "activity.dead-letter.v1"

SOURCE_TOPICS: tuple[str, ...] = (PARTNER_ACTIONS_TOPIC, ORDERS_TOPIC)
ALL_TOPICS: tuple[str, ...] = (PARTNER_ACTIONS_TOPIC, ORDERS_TOPIC, DEAD_LETTER_TOPIC)
