"""The normalizer maps each event family to the columns of docs/contracts.md."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.batch import Consumed, process_batch, to_columns
from processors.dead_letter import dead_letter_headers
from processors.normalize import KafkaMeta, normalize
from schemas.activity import ACTIVITY_COLUMN_NAMES
from schemas.dead_letter import (
    ERROR_CLASS,
    REASON,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    SOURCE_TOPIC,
)
from schemas.events import validate_event
from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import (
    INGESTED_AT,
    valid_line_item,
    valid_order,
    valid_partner_action,
)

META = KafkaMeta(PARTNER_ACTIONS_TOPIC, 1, 42)


def _row(topic: str, event: dict[str, object]) -> dict[str, object]:
    raw = orjson.dumps(event)
    return dict(normalize(validate_event(topic, raw, lenient_enums=True), raw, META, INGESTED_AT))


def test_row_keys_equal_the_table_spec() -> None:
    for topic, event in (
        (PARTNER_ACTIONS_TOPIC, valid_partner_action()),
        (ORDERS_TOPIC, valid_order()),
    ):
        # In the table's order: the insert names its columns from this same order.
        assert tuple(_row(topic, event)) == ACTIVITY_COLUMN_NAMES


def test_partner_action_names_the_product_and_shows_a_readable_diff() -> None:
    row = _row(
        PARTNER_ACTIONS_TOPIC,
        valid_partner_action(
            action="subscription.quantity_change",
            resource_type="subscription",
            resource_id="sub-9",
            resource_name="Contoso Cloud Backup",
            outcome="succeeded",
            details={"old": {"quantity": 5}, "new": {"quantity": 8}},
            occurred_at="2026-11-02T01:30:00+02:00",
        ),
    )
    assert row["action_text"] == "Subscription quantity changed: Contoso Cloud Backup"
    assert row["status_text"] == "Succeeded (subscription sub-9)"
    assert row["additional_info"] == "Quantity: 5 → 8"
    assert row["occurred_at"] == datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    assert row["kafka_topic"] == PARTNER_ACTIONS_TOPIC and row["kafka_offset"] == 42


def test_order_lists_every_line_item_and_its_id_and_status() -> None:
    row = _row(
        ORDERS_TOPIC,
        valid_order(
            order_id="ORD-1",
            order_status="completed",
            currency="EUR",
            line_items=[
                valid_line_item(product_name="Alpha Suite", quantity=2, unit_price="10.00"),
                valid_line_item(product_name="Beta Storage", quantity=7, unit_price="1.5"),
            ],
        ),
    )
    assert row["action"] == "order.completed"
    assert "Alpha Suite" in str(row["action_text"]) and "Beta Storage" in str(row["action_text"])
    assert row["status_text"] == "Order ORD-1: completed"
    info = str(row["additional_info"])
    assert info == (
        "2 × Alpha Suite (€10.00, 1 year, billed monthly); "
        "7 × Beta Storage (€1.50, 1 year, billed monthly)"
    )


def test_unknown_order_status_and_action_are_shown_as_they_are() -> None:
    row = _row(ORDERS_TOPIC, valid_order(order_status="partially_shipped"))
    assert row["status"] == "partially_shipped"
    assert row["status_text"] == "Order ord-2024-0001: partially_shipped"
    action = _row(PARTNER_ACTIONS_TOPIC, valid_partner_action(action="tenant.mfa_enforce"))
    assert str(action["action_text"]).startswith("Tenant mfa enforce")


def test_unknown_fields_are_kept_in_the_payload() -> None:
    row = _row(PARTNER_ACTIONS_TOPIC, valid_partner_action(x_region="eu-west"))
    assert orjson.loads(str(row["payload"]))["x_region"] == "eu-west"


def test_stored_details_read_as_labelled_fields() -> None:
    row = _row(
        PARTNER_ACTIONS_TOPIC,
        valid_partner_action(details={"reason": "card declined", "code": 402}),
    )
    assert row["additional_info"] == "Reason: card declined; code: 402"


def test_a_batch_splits_into_rows_and_rejections_with_reasons() -> None:
    good = orjson.dumps(valid_partner_action())
    batch = [
        Consumed(PARTNER_ACTIONS_TOPIC, 0, 1, b"k", good),
        Consumed(PARTNER_ACTIONS_TOPIC, 0, 2, b"k", b"not json"),
        Consumed(PARTNER_ACTIONS_TOPIC, 0, 3, b"k", b"[1, 2]"),
        Consumed(ORDERS_TOPIC, 1, 4, b"k", orjson.dumps(valid_order(line_items=[]))),
        Consumed(PARTNER_ACTIONS_TOPIC, 0, 5, b"k", None),
        Consumed(PARTNER_ACTIONS_TOPIC, 0, 6, b"k", b"x" * 2000),
    ]
    result = process_batch(batch, INGESTED_AT, max_bytes=1000)
    assert [r["kafka_offset"] for r in result.rows] == [1]
    assert [r.message.offset for r in result.rejected] == [2, 3, 4, 5, 6]
    assert "line_items" in result.rejected[2].reason
    assert "limit" in result.rejected[4].reason
    columns = to_columns(result.rows)
    assert len(columns) == len(ACTIVITY_COLUMN_NAMES) and all(len(c) == 1 for c in columns)


def test_dead_letter_headers_name_source_and_reason_and_keep_original_headers() -> None:
    message = Consumed(ORDERS_TOPIC, 2, 77, b"k", b"{}", headers=(("trace", b"abc"),))
    result = process_batch([message], INGESTED_AT, 1000)
    headers = dict(dead_letter_headers(result.rejected[0]))
    assert headers["trace"] == b"abc"
    assert headers[SOURCE_TOPIC] == ORDERS_TOPIC.encode()
    assert headers[SOURCE_PARTITION] == b"2" and headers[SOURCE_OFFSET] == b"77"
    assert headers[ERROR_CLASS] == b"InvalidEvent"
    assert headers[REASON]


# No deadline: a shared CI machine's pauses are not the code's speed.
@settings(deadline=None)
@given(st.binary(max_size=300), st.sampled_from([PARTNER_ACTIONS_TOPIC, ORDERS_TOPIC, "x.y.v9"]))
def test_any_bytes_become_a_row_or_a_rejection(value: bytes, topic: str) -> None:
    result = process_batch([Consumed(topic, 0, 0, None, value)], INGESTED_AT, 1000)
    assert len(result.rows) + len(result.rejected) == 1
