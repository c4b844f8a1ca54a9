"""The normalized activity record: one row of ClickHouse table `activity` (docs/contracts.md).

`ACTIVITY_COLUMNS` is the single table spec. It feeds the insert's column
list and types; a test checks the migrations produce exactly these columns
and another that the normalizer's keys equal them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, TypedDict

ACTIVITY_TABLE: Final = "activity"

# column -> ClickHouse type, in table order.
ACTIVITY_COLUMNS: Final[dict[str, str]] = {
    "partner_id": "LowCardinality(String)",
    "occurred_at": "DateTime64(3, 'UTC')",
    "event_id": "String",
    "kind": "LowCardinality(String)",
    "action": "LowCardinality(String)",
    "customer_id": "String",
    "customer_name": "String",
    "partner_user": "String",
    "action_text": "String",
    "status": "LowCardinality(String)",
    "status_text": "String",
    "additional_info": "String",
    "resource_type": "LowCardinality(String)",
    "resource_id": "String",
    "resource_name": "String",
    "order_id": "String",
    "correlation_id": "String",
    "source": "LowCardinality(String)",
    "actor_ip": "String",
    "user_agent": "String",
    "details": "String",
    "payload": "String",
    "schema_version": "UInt8",
    "kafka_topic": "LowCardinality(String)",
    "kafka_partition": "Int32",
    "kafka_offset": "Int64",
    "ingested_at": "DateTime64(3, 'UTC')",
}

ACTIVITY_COLUMN_NAMES: Final[tuple[str, ...]] = tuple(ACTIVITY_COLUMNS)


class ActivityRow(TypedDict):
    """One normalized event, keyed exactly like `ACTIVITY_COLUMNS`.

    `action_text`, `status_text` and `additional_info` are the readable
    Action / Status / Additional information columns of docs/contracts.md; `details`
    holds the structured part (an action's details or an order's line items)
    as JSON; `payload` the original event, unknown fields included.
    """

    partner_id: str
    occurred_at: datetime
    event_id: str
    kind: str
    action: str
    customer_id: str
    customer_name: str
    partner_user: str
    action_text: str
    status: str
    status_text: str
    additional_info: str
    resource_type: str
    resource_id: str
    resource_name: str
    order_id: str
    correlation_id: str
    source: str
    actor_ip: str
    user_agent: str
    details: str
    payload: str
    schema_version: int
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    ingested_at: datetime


# What an outcome and its resource say, in the order both the page and the
# exported record show them.
OUTCOME_AND_RESOURCE_COLUMNS: Final[tuple[str, ...]] = (
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
# Columns of a list item of the page (query/reads/pages.py).
LIST_COLUMNS: Final[tuple[str, ...]] = (
    "event_id",
    "occurred_at",
    "partner_id",
    "kind",
    "action",
    "customer_id",
    "customer_name",
    "partner_user",
    "action_text",
    *OUTCOME_AND_RESOURCE_COLUMNS,
)
# What a reader of one activity is shown: a list item, then where the action came
# from. The expanded row adds the audit columns; a webhook destination receives these.
SHOWN_COLUMNS: Final[tuple[str, ...]] = (*LIST_COLUMNS, "source", "actor_ip", "user_agent")

KIND_PARTNER_ACTION: Final = "partner_action"
KIND_ORDER: Final = "order"
