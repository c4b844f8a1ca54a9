"""Every v1 contract rule: a violating event is refused before the wire, naming the field.

`encode_event` is the step `ActivityPublisher.publish` runs before it hands
anything to Kafka, and `prepare_line` the one `activitylog produce` runs per
line; both are pure, so each rule is checked here without a broker. The
integration test `test_publisher.py` shows the publisher sends nothing for them.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from common.errors import InvalidEvent
from producers.bulk import prepare_line
from producers.publisher import complete_event, encode_event
from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import OMIT, valid_line_item, valid_order, valid_partner_action

A, ORD = PARTNER_ACTIONS_TOPIC, ORDERS_TOPIC


def _order_with_item(**item: Any) -> dict[str, Any]:
    return valid_order(line_items=[valid_line_item(**item)])


# (topic, event, field the error must name, a word of the rule)
VIOLATIONS: list[tuple[str, dict[str, Any], str, str]] = [
    (A, valid_partner_action(event_id="not-a-uuid"), "event_id", "UUID"),
    (A, valid_partner_action(event_id=42), "event_id", "string"),
    (A, valid_partner_action(occurred_at="2026-11-01 10:00"), "occurred_at", "RFC 3339"),
    (A, valid_partner_action(occurred_at="2026-11-01T10:00:00"), "occurred_at", "offset"),
    (A, valid_partner_action(occurred_at="2026-02-30T10:00:00Z"), "occurred_at", "RFC 3339"),
    (A, valid_partner_action(occurred_at=1767225600), "occurred_at", "RFC 3339"),
    (A, valid_partner_action(partner_id=OMIT), "partner_id", "required"),
    (A, valid_partner_action(partner_id=""), "partner_id", "empty"),
    (A, valid_partner_action(partner_user=OMIT), "partner_user", "required"),
    (A, valid_partner_action(partner_user=7), "partner_user", "string"),
    (A, valid_partner_action(customer_id=OMIT), "customer_id", "required"),
    (A, valid_partner_action(customer_id=""), "customer_id", "empty"),
    (A, valid_partner_action(customer_name=OMIT), "customer_name", "required"),
    (A, valid_partner_action(customer_name=""), "customer_name", "empty"),
    (A, valid_partner_action(action=OMIT), "action", "required"),
    (A, valid_partner_action(action="Create Customer"), "action", "dotted"),
    (A, valid_partner_action(action="customer"), "action", "dotted"),
    (A, valid_partner_action(outcome="done"), "outcome", "succeeded"),
    (A, valid_partner_action(details="quantity 5"), "details", "object"),
    (A, valid_partner_action(resource_type=3), "resource_type", "string"),
    (A, valid_partner_action(resource_id=3), "resource_id", "string"),
    (A, valid_partner_action(resource_name=["x"]), "resource_name", "string"),
    (A, valid_partner_action(correlation_id=1), "correlation_id", "string"),
    (A, valid_partner_action(source=True), "source", "string"),
    (A, valid_partner_action(actor_ip=1), "actor_ip", "string"),
    (A, valid_partner_action(user_agent=1), "user_agent", "string"),
    (ORD, valid_order(order_id=OMIT), "order_id", "required"),
    (ORD, valid_order(order_id=""), "order_id", "empty"),
    (ORD, valid_order(order_status=OMIT), "order_status", "required"),
    (ORD, valid_order(order_status="shipped"), "order_status", "placed"),
    (ORD, valid_order(currency="euro"), "currency", "ISO 4217"),
    (ORD, valid_order(line_items=OMIT), "line_items", "required"),
    (ORD, valid_order(line_items=[]), "line_items", "at least 1"),
    (ORD, valid_order(line_items={"product_name": "x"}), "line_items", "array"),
    (ORD, valid_order(line_items=["x"]), "line_items.0", "object"),
    (ORD, _order_with_item(product_name=OMIT), "line_items.0.product_name", "required"),
    (ORD, _order_with_item(product_name=""), "line_items.0.product_name", "empty"),
    (ORD, _order_with_item(quantity=OMIT), "line_items.0.quantity", "required"),
    (ORD, _order_with_item(quantity=0), "line_items.0.quantity", "at least 1"),
    (ORD, _order_with_item(quantity="3"), "line_items.0.quantity", "integer"),
    (ORD, _order_with_item(quantity=1.5), "line_items.0.quantity", "integer"),
    (ORD, _order_with_item(unit_price="12,50"), "line_items.0.unit_price", "decimal"),
    (ORD, _order_with_item(unit_price=12.5), "line_items.0.unit_price", "string"),
    (ORD, _order_with_item(offer_id=1), "line_items.0.offer_id", "string"),
    (ORD, _order_with_item(sku=1), "line_items.0.sku", "string"),
    (ORD, _order_with_item(subscription_id=1), "line_items.0.subscription_id", "string"),
    (ORD, _order_with_item(term=1), "line_items.0.term", "string"),
    (ORD, _order_with_item(billing_cycle=1), "line_items.0.billing_cycle", "string"),
    (ORD, valid_order(partner_id=OMIT), "partner_id", "required"),
    (ORD, valid_order(customer_name=""), "customer_name", "empty"),
]


@pytest.mark.parametrize(
    ("topic", "event", "field", "rule"),
    VIOLATIONS,
    ids=[f"{f}:{r}:{i}" for i, (_, _, f, r) in enumerate(VIOLATIONS)],
)
def test_a_violating_event_is_refused_naming_the_field(
    topic: str, event: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        encode_event(topic, event)
    assert caught.value.field == field
    assert rule.lower() in caught.value.rule.lower(), caught.value.rule
    assert field in str(caught.value)


@pytest.mark.parametrize(
    ("topic", "event", "field", "rule"),
    VIOLATIONS,
    ids=[f"{f}:{r}:{i}" for i, (_, _, f, r) in enumerate(VIOLATIONS)],
)
def test_produce_refuses_the_same_lines_naming_the_field(
    topic: str, event: dict[str, Any], field: str, rule: str
) -> None:
    # The line's shape alone routes it to the topic the event was written for.
    with pytest.raises(InvalidEvent) as caught:
        prepare_line(orjson.dumps(event))
    assert caught.value.field == field
    assert rule.lower() in caught.value.rule.lower(), caught.value.rule


def test_a_non_object_and_an_unknown_topic_are_refused() -> None:
    with pytest.raises(InvalidEvent, match="JSON object"):
        encode_event(A, ["not", "an", "object"])  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent, match="unknown topic"):
        encode_event("activity.other.v1", valid_partner_action())
    for line, reason in [(b"[1, 2]", "JSON object"), (b"{nope", "not valid JSON")]:
        with pytest.raises(InvalidEvent, match=reason):
            prepare_line(line)


def test_missing_event_id_and_occurred_at_are_filled_not_refused() -> None:
    key, value, complete = encode_event(
        A, valid_partner_action(event_id=OMIT, occurred_at=OMIT, customer_id="cust-9")
    )
    assert key == b"cust-9"
    sent = orjson.loads(value)
    assert uuid.UUID(sent["event_id"]).version == 4
    assert sent["occurred_at"].endswith("Z") and sent == complete


def test_complete_event_keeps_given_ids_and_does_not_mutate() -> None:
    event = valid_partner_action()
    before = dict(event)
    assert complete_event(event) == before
    assert event == before


def test_a_complete_line_is_sent_as_the_very_bytes_read() -> None:
    line = orjson.dumps(valid_order(customer_id="c-1", extra_field={"kept": True}))
    line = line.replace(b'"order_id"', b' "order_id"')  # not compact: still sent as is
    topic, key, value = prepare_line(line)
    assert (topic, key, value) == (ORD, b"c-1", line)


def test_unknown_extra_fields_are_kept() -> None:
    _, value, _ = encode_event(A, valid_partner_action(upstream_ref={"n": 1}))
    assert orjson.loads(value)["upstream_ref"] == {"n": 1}
