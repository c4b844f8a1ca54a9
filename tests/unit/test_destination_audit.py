"""Adding or removing a webhook destination is recorded as a partner-level activity."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from processors.batch import Consumed, process_batch
from query.destination_audit import DESTINATION_CREATE, DESTINATION_DELETE, destination_event
from schemas.destinations import STATE_ACTIVE, Destination
from schemas.events import validate_event
from schemas.readable.render import render
from schemas.topics import PARTNER_ACTIONS_TOPIC

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DEST = Destination(
    "dst_" + "a" * 24, "ptn-a", "https://hooks.example.com/in/s3cr3t-token?sig=abc", "",
    ("order.placed",), (), (), "salt", "fp", AT, "ops", STATE_ACTIVE, "", AT,
)  # fmt: skip


def test_the_event_is_a_valid_partner_level_action_without_the_urls_path_or_query() -> None:
    event = destination_event(DESTINATION_CREATE, DEST, by="ops", at=AT)
    validate_event(PARTNER_ACTIONS_TOPIC, orjson.dumps(event))  # strict: raises when invalid
    assert event["partner_id"] == "ptn-a" and event["partner_user"] == "ops"
    assert event["scope"] == "partner" and "customer_id" not in event
    assert event["details"]["host"] == "hooks.example.com"
    assert (
        "s3cr3t" not in orjson.dumps(event).decode() and "sig=" not in orjson.dumps(event).decode()
    )


def test_one_activity_per_action_and_destination_however_often_recorded() -> None:
    create = destination_event(DESTINATION_CREATE, DEST, by="ops", at=AT)
    again = destination_event(DESTINATION_CREATE, DEST, by="someone", at=datetime.now(UTC))
    delete = destination_event(DESTINATION_DELETE, DEST, by="ops", at=AT)
    assert create["event_id"] == again["event_id"] != delete["event_id"]


def test_the_activity_reads_in_every_language() -> None:
    texts = []
    for action in (DESTINATION_CREATE, DESTINATION_DELETE):
        event = destination_event(action, DEST, by="ops", at=AT)
        message = Consumed(PARTNER_ACTIONS_TOPIC, 0, 0, b"ptn-a", orjson.dumps(event))
        [row] = process_batch([message], AT, 1_000_000).rows
        texts += [render(row, "en").action_text, render(row, "fr").action_text]
        assert "Destination: dst_" in render(row, "en").additional_info
    assert texts == [
        "Webhook destination added: hooks.example.com",
        "Destination webhook ajoutée : hooks.example.com",
        "Webhook destination removed: hooks.example.com",
        "Destination webhook supprimée : hooks.example.com",
    ]
