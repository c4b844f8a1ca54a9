"""Every v1 contract rule: a violating event is refused before the wire, naming the field.

`encode_event` is the step `ActivityPublisher.publish` runs before it hands
anything to Kafka, and `prepare_line` the one `activitylog produce` runs per
line; both are pure, so each rule is checked here without a broker. The
integration test `test_publisher.py` shows the publisher sends nothing for them.
"""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import orjson
import pytest

from common.errors import InvalidEvent
from producers.bulk import prepare_line
from producers.parallel import owner_of
from producers.publisher import complete_event, encode_event
from schemas.events import kafka_key_field, validate_event
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


def _partner_level(**overrides: Any) -> dict[str, Any]:
    """A partner-level action (scope partner): no customer, keyed by its partner."""
    fields: dict[str, Any] = {
        "action": "export.create",
        "scope": "partner",
        "customer_id": OMIT,
        "customer_name": OMIT,
    }
    return valid_partner_action(**(fields | overrides))


KEYED = [
    (A, valid_partner_action(customer_id="cust-1", partner_id="ptn-1")),
    (A, valid_partner_action(customer_id="cust-1", partner_id="ptn-1", scope="customer")),
    (A, _partner_level(partner_id="ptn-9")),
    (A, _partner_level(partner_id="ptn-9", customer_id=None, customer_name=None)),
    (ORD, valid_order(customer_id="cust-2", partner_id="ptn-2", scope="partner")),
]


@pytest.mark.parametrize(("topic", "event"), KEYED, ids=range(len(KEYED)))
def test_every_path_keys_an_event_by_the_contract_rule(topic: str, event: dict[str, Any]) -> None:
    """Publisher, bulk (validated or not) and the sharded publisher's owner: one key."""
    key = validate_event(topic, event).kafka_key.encode()
    assert event[kafka_key_field(event)].encode() == key
    assert encode_event(topic, event)[0] == key
    line = orjson.dumps(event)
    assert prepare_line(line)[1] == prepare_line(line, validate=False)[1] == key
    assert owner_of(event, 5) == zlib.crc32(key) % 5


def test_unvalidated_input_without_its_key_names_the_key_field() -> None:
    for event, field in [
        (valid_partner_action(customer_id=OMIT), "customer_id"),
        (valid_order(customer_id=""), "customer_id"),
        (_partner_level(partner_id=OMIT), "partner_id"),
    ]:
        with pytest.raises(InvalidEvent) as caught:
            prepare_line(orjson.dumps(event), validate=False)
        assert (caught.value.field, caught.value.rule) == (field, "is required")


def test_partner_level_actions_are_sharded_by_their_partner() -> None:
    """Not all on worker 0: each partner's own actions go to the worker of its key."""
    owners = {owner_of(_partner_level(partner_id=f"ptn-{i}"), 4) for i in range(40)}
    assert owners == {0, 1, 2, 3}
