"""Fuzzing the processor's pure decision: any message -> an activity row or a dead letter.

`processors.batch.process_batch` is the whole decision the worker makes about
a message (decode, validate, normalize). Whatever bytes arrive on either
source topic, it must return exactly one outcome per message: a row every
column of which the store can take, or a rejection whose class is our typed
`InvalidEvent` (not the catch-all that guards against bugs) with a reason,
and whose dead-letter headers can be built. An exception escaping would stop
the stream; the catch-all firing means a bug turned into a dead letter.

Three sources of input: arbitrary bytes; events built close to the v1
contract (every field drawn from realistic and hostile text), some mutated
(a field dropped, retyped, replaced by any JSON value; unknown fields added;
the bytes truncated or a byte flipped); and JSON documents of any shape.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from processors.batch import BatchResult, Consumed, process_batch
from processors.dead_letter import dead_letter_headers
from schemas.activity import ACTIVITY_COLUMN_NAMES
from schemas.dead_letter import REASON
from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC, SOURCE_TOPICS
from tests.fixtures.events import valid_line_item, valid_order, valid_partner_action
from tests.fuzz import Tally, fuzz_settings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MAX_BYTES = 4096
TALLY = Tally("decode")

# Text that breaks naive code: controls, quotes, separators, formula starts, RTL marks,
# astral characters (surrogate-free: a lone surrogate is not valid UTF-8 JSON anyway).
HOSTILE = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\x00\x01\t\r\n\"',;=+-@\\/{}[]\u2028\u2029\u202e\ufeff\u00e9")),
        st.characters(codec="utf-8"),
        st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, codec="utf-8"),
    ),
    max_size=30,
)
TEXT = st.one_of(st.from_regex(r"[a-z][a-z0-9.@_-]{0,15}", fullmatch=True), HOSTILE)
# Required text is mostly well-formed (non-empty), so that about half the events pass.
NAME = st.tuples(
    st.integers(0, 9), st.from_regex(r"[a-z][a-z0-9.@_-]{0,15}", fullmatch=True), HOSTILE
).map(lambda t: t[1] if t[0] < 5 or not t[2].strip() else t[2])
JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
VALID_TIMESTAMP = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat()),
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=9.5))]
        ),
    ).map(lambda d: d.isoformat().replace("+00:00", "Z")),
)
# Mostly valid; the odd ones below come in through the `timestamp` mutation too.
ODD_TIMESTAMP = st.one_of(
    st.sampled_from(
        [
            "2026-11-27T10:00:00Z",
            "2026-11-27t10:00:00.123456789z",
            "2026-02-30T10:00:00Z",
            "2026-11-27T10:00:00",
            "2026-11-27",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
            "1970-01-01T00:00:00+24:00",
            "",
        ]
    ),
    TEXT,
)
TIMESTAMP = st.tuples(st.integers(0, 9), VALID_TIMESTAMP, ODD_TIMESTAMP).map(
    lambda t: t[1] if t[0] < 9 else t[2]
)
LINE_ITEM = st.fixed_dictionaries(
    {"product_name": NAME, "quantity": st.one_of(st.integers(1, 500), st.integers(-3, 2**64))},
    optional={
        "offer_id": TEXT,
        "sku": TEXT,
        "unit_price": st.one_of(st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,4})?", fullmatch=True), TEXT),
        "subscription_id": TEXT,
        "term": TEXT,
        "billing_cycle": TEXT,
    },
)
COMMON = {
    "event_id": st.uuids().map(str),
    "occurred_at": TIMESTAMP,
    "partner_id": NAME,
    "partner_user": NAME,
    "customer_id": NAME,
    "customer_name": NAME,
}
TRACING = {"correlation_id": TEXT, "source": TEXT, "actor_ip": TEXT, "user_agent": TEXT}
PARTNER_ACTION = st.fixed_dictionaries(
    COMMON
    | {
        "action": st.one_of(
            st.sampled_from(["customer.create", "subscription.quantity_change", "license.assign"]),
            NAME,
        )
    },
    optional={
        "resource_type": TEXT,
        "resource_id": TEXT,
        "resource_name": TEXT,
        "outcome": st.one_of(st.sampled_from(["succeeded", "failed", "in_progress"]), TEXT),
        "scope": st.one_of(st.sampled_from(["customer", "partner"]), TEXT),
        "details": st.dictionaries(TEXT, JSON_VALUE, max_size=5),
    }
    | TRACING,
)
ORDER = st.fixed_dictionaries(
    COMMON
    | {
        "order_id": NAME,
        "order_status": st.one_of(
            st.sampled_from(["placed", "completed", "failed", "cancelled"]), TEXT
        ),
        "line_items": st.lists(LINE_ITEM, min_size=1, max_size=4) | st.lists(LINE_ITEM),
    },
    optional={"currency": st.one_of(st.just("EUR"), TEXT)} | TRACING,
)


@st.composite
def mutated(draw: st.DrawFn, event: dict[str, Any]) -> dict[str, Any]:
    """The event with a few random mutations: drop, retype, add unknown fields."""
    event = dict(event)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(
            st.sampled_from(["drop", "retype", "extra", "timestamp", "event_id", "partner_scope"])
        )
        if kind == "partner_scope":  # a partner-level action: no customer (docs/contracts.md, v1)
            event["scope"] = "partner"
            if draw(st.booleans()):
                event.pop("customer_id", None)
                event.pop("customer_name", None)
        elif kind == "timestamp":
            event["occurred_at"] = draw(ODD_TIMESTAMP)
        elif kind == "event_id":
            event["event_id"] = draw(st.one_of(TEXT, st.uuids().map(lambda u: u.hex)))
        elif kind == "drop" and event:
            event.pop(draw(st.sampled_from(sorted(event))))
        elif kind == "retype" and event:
            event[draw(st.sampled_from(sorted(event)))] = draw(JSON_VALUE)
        else:
            event[draw(TEXT)] = draw(JSON_VALUE)
    return event


def _dumps(event: Any, ascii_only: bool) -> bytes:
    return json.dumps(event, ensure_ascii=ascii_only).encode("utf-8")


@st.composite
def near_contract(draw: st.DrawFn) -> tuple[str, bytes]:
    """(topic, bytes) of an event built close to its topic's contract, maybe mutated."""
    topic = draw(st.sampled_from(SOURCE_TOPICS))
    # Sometimes the other topic's shape: an order on the actions topic and so on.
    shape = topic if draw(st.integers(0, 9)) else draw(st.sampled_from(SOURCE_TOPICS))
    event = draw(PARTNER_ACTION if shape == PARTNER_ACTIONS_TOPIC else ORDER)
    if shape == PARTNER_ACTIONS_TOPIC and draw(st.integers(0, 7)) == 0:
        # A partner-level action (`export.create`): no customer at all.
        event = {k: v for k, v in event.items() if k not in ("customer_id", "customer_name")}
        event["scope"] = "partner"
    if draw(st.integers(0, 2)) == 0:
        event = draw(mutated(event))
    raw = _dumps(event, draw(st.booleans()))
    damage = draw(st.sampled_from(["none", "none", "none", "truncate", "flip"]))
    if damage == "truncate" and raw:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif damage == "flip" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    return topic, raw


def _check_one(topic: str, value: bytes | None) -> BatchResult:
    """Run the decision on one message and check the outcome is exactly one well-formed thing."""
    message = Consumed(topic, 3, 42, b"k", value, (("traceparent", b"00-ab"),))
    result = process_batch([message], NOW, MAX_BYTES)  # must not raise, whatever the bytes
    TALLY.add("messages")
    assert len(result.rows) + len(result.rejected) == 1
    if result.rejected:
        rejected = result.rejected[0]
        TALLY.add("dead_letters")
        # The catch-all is for bugs: fuzzed input must only ever meet the typed error.
        assert rejected.error_class == "InvalidEvent", rejected
        assert rejected.reason.strip()
        headers = dict(dead_letter_headers(rejected))
        assert headers[REASON].decode("utf-8", errors="strict")
        assert rejected.message.value == value  # forwarded unchanged
    else:
        TALLY.add("rows")
        _check_row(result.rows[0], topic, value)
    return result


def _check_row(row: Any, topic: str, value: bytes | None) -> None:
    """A row the store can take: every column, UTF-8-encodable text, a UTC instant."""
    assert tuple(row) == ACTIVITY_COLUMN_NAMES
    for name, cell in row.items():
        if isinstance(cell, str):
            cell.encode("utf-8")  # a lone surrogate here would fail the whole insert
        elif isinstance(cell, float):
            raise AssertionError(f"{name} is a float")
    assert row["occurred_at"].utcoffset().total_seconds() == 0
    assert row["kafka_topic"] == topic and row["kafka_offset"] == 42
    assert row["partner_id"] and row["event_id"]
    event = json.loads(value or b"{}")
    if row["kind"] == "order" or event.get("scope") != "partner":
        assert row["customer_id"]  # only a partner-level action has no customer
    assert value is not None and row["payload"] == value.decode("utf-8", errors="replace")
    assert row["kind"] in ("partner_action", "order")
    assert (topic == ORDERS_TOPIC) == (row["kind"] == "order")


@fuzz_settings(200)
@given(
    topic=st.sampled_from([*SOURCE_TOPICS, "activity.unknown.v9"]), value=st.binary(max_size=600)
)
def test_any_bytes_become_a_row_or_a_dead_letter(topic: str, value: bytes) -> None:
    _check_one(topic, value)
    TALLY.add("examples_bytes")


@fuzz_settings(800)
@given(near_contract())
def test_events_close_to_the_contract_become_a_row_or_a_dead_letter(
    message: tuple[str, bytes],
) -> None:
    _check_one(*message)
    TALLY.add("examples_near_contract")


@fuzz_settings(200)
@given(
    topic=st.sampled_from(SOURCE_TOPICS),
    document=JSON_VALUE,
    ascii_only=st.booleans(),
)
def test_any_json_document_becomes_a_row_or_a_dead_letter(
    topic: str, document: Any, ascii_only: bool
) -> None:
    _check_one(topic, _dumps(document, ascii_only))
    TALLY.add("examples_json")


def test_edge_messages_are_dead_lettered_with_a_reason() -> None:
    """Tombstones, oversized messages, NaN and deep nesting: rejected, never raised."""
    deep = b"[" * 5000 + b"]" * 5000
    for value in (None, b"", b"x" * (MAX_BYTES + 1), b'{"a": NaN}', deep, b"\xff\xfe{}"):
        result = _check_one(PARTNER_ACTIONS_TOPIC, value)
        assert result.rejected, value
    nan_details = json.dumps({"details": {"x": math.inf}}).encode()
    assert _check_one(PARTNER_ACTIONS_TOPIC, nan_details).rejected


def test_details_with_integers_beyond_64_bits_are_stored() -> None:
    """Found by this fuzzing: orjson refused such details and the event hit the catch-all."""
    event = valid_partner_action(details={"big": 2**70, "list": [-(2**65)]})
    row = _check_one(PARTNER_ACTIONS_TOPIC, json.dumps(event).encode()).rows[0]
    assert json.loads(row["details"]) == {"big": 2**70, "list": [-(2**65)]}
    order = valid_order(line_items=[valid_line_item(seats=2**66)])
    row = _check_one(ORDERS_TOPIC, json.dumps(order).encode()).rows[0]
    assert str(2**66) in row["details"]


def test_zz_write_decode_figures() -> None:
    """Record how many messages this module fuzzed (runs last in the module)."""
    figures = TALLY.write()
    assert figures.get("messages", 0) > 0
