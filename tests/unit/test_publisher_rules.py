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
from tests.fixtures.contracts import VIOLATIONS
from tests.fixtures.events import OMIT, valid_order, valid_partner_action

A, ORD = PARTNER_ACTIONS_TOPIC, ORDERS_TOPIC


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
