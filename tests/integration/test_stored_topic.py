"""The worker announces what it stored on `activity.stored.v1`: the real broker, `serve` on chDB.

Every stored activity of a partner is announced under the partner's key, on one
partition, a customer's activities in the order they were published on their topic; a message the
worker dead-letters never is.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
from kafka import KafkaConsumer

from processors.delivery.payload import DELIVERED_COLUMNS
from processors.stored import read_stored
from schemas.topics import PARTNER_ACTIONS_TOPIC, STORED_TOPIC
from tests.fixtures.events import partner_events, valid_partner_action
from tests.fixtures.kafka import send_records
from tests.fixtures.serve import ServeProcess, committed_and_end_offsets, wait_until


def test_every_stored_activity_is_announced_under_its_partner_and_no_dead_letter(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:8]}"
    group = f"g-{partner}"
    serve = ServeProcess(kafka_bootstrap, tmp_path, ACTIVITYLOG_CONSUMER_GROUP=group).start()
    try:
        events = partner_events(partner, 60)
        bad = valid_partner_action(partner_id=partner, occurred_at="yesterday")
        records = [(t, str(e["customer_id"]).encode(), orjson.dumps(e)) for t, e in events]
        send_records(kafka_bootstrap, [*records, (PARTNER_ACTIONS_TOPIC, b"c", orjson.dumps(bad))])
        _, sent_through = committed_and_end_offsets(kafka_bootstrap, group)

        def past_everything_sent() -> bool:
            committed, _ = committed_and_end_offsets(kafka_bootstrap, group)
            return all((committed.get(tp) or 0) >= end for tp, end in sent_through.items())

        wait_until(past_everything_sent, 90, "the worker to commit past every record sent", 0.5)
    finally:
        assert serve.stop() == 0, serve.log()

    # Committed, so announced: the worker acknowledges a batch only after the broker has it.
    consumer = KafkaConsumer(
        STORED_TOPIC,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=3000,
    )
    announced: list[dict[str, object]] = []
    partitions: set[int] = set()
    try:
        for record in consumer:
            if record.key == partner.encode():
                partitions.add(record.partition)
                announced.extend(read_stored(record.value))
    finally:
        consumer.close()

    ids = [a["event_id"] for a in announced]
    assert set(ids) == {e["event_id"] for _t, e in events}
    assert bad["event_id"] not in ids
    assert len(partitions) == 1
    assert all(tuple(a) == DELIVERED_COLUMNS and a["partner_id"] == partner for a in announced)
    # Kafka orders one customer's events within a topic: so does the announcement.
    first_seen = list(dict.fromkeys(str(i) for i in ids))
    for topic, customer in {(t, e["customer_id"]) for t, e in events}:
        published = [e["event_id"] for t, e in events if (t, e["customer_id"]) == (topic, customer)]
        assert [i for i in first_seen if i in published] == published, (topic, customer)
