"""Every kind of bad message lands in activity.dead-letter.v1 byte-for-byte, with the reason.

Real broker, real chDB, the real `serve` process. Each bad message carries a
header of its own, which must travel along, and a good event sent after
them must still be stored: bad input never stops the stream.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
from kafka import KafkaConsumer, KafkaProducer

from schemas.dead_letter import (
    ERROR_CLASS,
    REASON,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    SOURCE_TOPIC,
)
from schemas.topics import DEAD_LETTER_TOPIC, ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import OMIT, valid_order, valid_partner_action
from tests.fixtures.serve import ServeProcess, wait_until

MAX_EVENT_BYTES = 4096


def _bad_messages(marker: str) -> dict[str, tuple[str, bytes | None, str]]:
    """kind -> (topic, value, a word the reason must contain)."""
    action = {"partner_id": marker, "customer_id": marker}
    return {
        "not-json": (PARTNER_ACTIONS_TOPIC, b"{not json " + marker.encode(), "JSON"),
        "not-object": (PARTNER_ACTIONS_TOPIC, orjson.dumps([marker, 1]), "object"),
        "schema": (
            PARTNER_ACTIONS_TOPIC,
            orjson.dumps(valid_partner_action(**action, customer_name=OMIT)),
            "customer_name",
        ),
        "timestamp": (
            PARTNER_ACTIONS_TOPIC,
            orjson.dumps(valid_partner_action(**action, occurred_at="2026-02-30T10:00:00Z")),
            "RFC 3339",
        ),
        "empty-order": (
            ORDERS_TOPIC,
            orjson.dumps(valid_order(**action, line_items=[])),
            "line_items",
        ),
        "oversized": (
            PARTNER_ACTIONS_TOPIC,
            orjson.dumps(valid_partner_action(**action, details={"pad": "x" * MAX_EVENT_BYTES})),
            "limit",
        ),
        "tombstone": (ORDERS_TOPIC, None, "tombstone"),
    }


def test_every_kind_of_bad_message_is_dead_lettered_unchanged_with_its_reason(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    marker = f"ptn-{uuid.uuid4().hex[:8]}"
    serve = ServeProcess(
        kafka_bootstrap,
        tmp_path,
        ACTIVITYLOG_API_KEYS=f"k={marker}",
        ACTIVITYLOG_CONSUMER_GROUP=f"g-{marker}",
        ACTIVITYLOG_MAX_EVENT_BYTES=str(MAX_EVENT_BYTES),
    ).start()
    bad = _bad_messages(marker)
    good = orjson.dumps(valid_partner_action(partner_id=marker, occurred_at="2026-11-02T10:00:00Z"))
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        sent = {}
        for kind, (topic, value, _word) in bad.items():
            future = producer.send(
                topic,
                key=f"{marker}-{kind}".encode(),
                value=value,
                headers=[("trace", kind.encode())],
            )
            sent[kind] = future.get(timeout=30)
        producer.send(PARTNER_ACTIONS_TOPIC, key=b"good", value=good).get(timeout=30)
        producer.flush(30)

        dead = wait_until(
            lambda: len(found := _dead_letters(kafka_bootstrap, marker)) >= len(bad) and found,
            60,
            "a dead letter for every bad message",
            every=0.5,
        )
        assert set(dead) == set(bad)
        for kind, (topic, value, word) in bad.items():
            dl_value, headers = dead[kind]
            assert dl_value == value, kind  # byte-for-byte (None stays a tombstone)
            assert headers["trace"] == kind.encode(), kind
            assert headers[SOURCE_TOPIC] == topic.encode(), kind
            assert headers[SOURCE_PARTITION] == str(sent[kind].partition).encode(), kind
            assert headers[SOURCE_OFFSET] == str(sent[kind].offset).encode(), kind
            assert headers[ERROR_CLASS] == b"InvalidEvent", kind
            assert word.encode() in headers[REASON], (kind, headers[REASON])

        # The stream went on past them: the good event is stored.
        def stored() -> int:
            response = serve.get(
                "/api/v1/activity", "k", **{"from": "2026-11-01", "to": "2026-11-30"}
            )
            return len(response.json()["items"])

        wait_until(lambda: stored() == 1, 60, "the good event stored")
        assert serve.logged("event=dead_lettered")
    finally:
        producer.close()
        assert serve.stop() == 0, serve.log()


def _dead_letters(bootstrap: str, marker: str) -> dict[str, tuple[bytes | None, dict[str, bytes]]]:
    """kind -> (value, headers) of the dead letters whose key carries `marker`."""
    consumer = KafkaConsumer(
        DEAD_LETTER_TOPIC,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
        group_id=None,
    )
    found: dict[str, tuple[bytes | None, dict[str, bytes]]] = {}
    prefix = f"{marker}-".encode()
    try:
        for message in consumer:
            if message.key and message.key.startswith(prefix):
                kind = message.key[len(prefix) :].decode()
                found[kind] = (message.value, dict(message.headers))
    finally:
        consumer.close()
    return found
