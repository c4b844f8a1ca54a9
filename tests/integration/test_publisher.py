"""`ActivityPublisher` on a real broker: byte-for-byte delivery, nothing lost or invalid sent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from activitylog.devstack.kafka import KafkaStack
from common.errors import DeliveryFailed, InvalidEvent
from common.net import free_port
from common.settings import Settings
from producers.bulk import publish_lines
from producers.publisher import ActivityPublisher
from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC
from tests.fixtures.contracts import VIOLATIONS
from tests.fixtures.events import valid_order, valid_partner_action
from tests.fixtures.kafka import Record, read_back


def _events(partner: str, n: int) -> Iterator[tuple[str, dict[str, object]]]:
    for i in range(n):
        common = {"partner_id": partner, "customer_id": f"cust-{i % 7}"}
        if i % 3 == 0:
            yield ORDERS_TOPIC, valid_order(**common, order_id=f"ord-{i}")
        else:
            yield (
                PARTNER_ACTIONS_TOPIC,
                valid_partner_action(**common, customer_name='Sté «Ünïcode» 株式会社, "q"'),
            )


def test_published_events_read_back_byte_for_byte_with_key_and_topic(
    kafka_bootstrap: str,
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:10]}"
    sent: list[Record] = []
    with ActivityPublisher(kafka_bootstrap) as publisher:
        receipts = []
        for topic, event in _events(partner, 300):
            receipt = publisher.publish(topic, event)
            receipts.append(receipt)
            sent.append((topic, str(event["customer_id"]).encode(), receipt.value))
    assert publisher.report.delivered == 300 and publisher.report.ok
    deliveries = [r.wait(1) for r in receipts]
    assert len({(d.topic, d.partition, d.offset) for d in deliveries}) == 300
    assert sorted(read_back(kafka_bootstrap, partner, 300)) == sorted(sent)


def test_close_delivers_events_still_buffered(kafka_bootstrap: str) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:10]}"
    # A linger far longer than the test: nothing leaves until close() flushes.
    publisher = ActivityPublisher(kafka_bootstrap, linger_ms=60_000, batch_size=16 * 1024 * 1024)
    lines = [orjson.dumps(e) for _, e in _events(partner, 200)]
    result = publish_lines(publisher, enumerate(lines, start=1))
    assert result.accepted == 200
    assert publisher.report.pending == 200  # still buffered
    report = publisher.close(timeout=30)
    assert report.delivered == 200 and report.ok
    got = read_back(kafka_bootstrap, partner, 200)
    # The very bytes of each line, keyed by its customer, on the topic its shape names.
    assert sorted(v for _, _, v in got) == sorted(lines)
    for topic, key, value in got:
        event = orjson.loads(value)
        assert key == event["customer_id"].encode()
        assert topic == (ORDERS_TOPIC if "order_id" in event else PARTNER_ACTIONS_TOPIC)


def test_invalid_events_never_reach_the_wire(kafka_bootstrap: str) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:10]}"
    with ActivityPublisher(kafka_bootstrap) as publisher:
        for topic, event, field, _rule in VIOLATIONS:
            with pytest.raises(InvalidEvent) as caught:
                # An unknown extra field carries the marker: extras are kept, never checked.
                publisher.publish(topic, {**event, "test_marker": partner})
            assert caught.value.field == field
        assert publisher.report.sent == 0
        marker = valid_partner_action(partner_id=partner)
        publisher.publish(PARTNER_ACTIONS_TOPIC, marker)
    got = read_back(kafka_bootstrap, partner, 1)
    assert [orjson.loads(v)["event_id"] for _, _, v in got] == [marker["event_id"]]


def test_broker_stopped_mid_run_loses_nothing_silently(tmp_path: Path) -> None:
    """Every record ends acknowledged or reported failed, with its bytes; none in limbo."""
    settings = Settings.from_env().with_overrides(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", state_dir=tmp_path / "kafka-state"
    )
    stack = KafkaStack(settings)
    stack.up(timeout=180)
    bootstrap = settings.kafka_bootstrap
    partner = f"ptn-{uuid.uuid4().hex[:10]}"
    publisher = ActivityPublisher(
        bootstrap, delivery_timeout_ms=6000, request_timeout_ms=3000, close_timeout=20
    )
    receipts = []
    try:
        events = list(_events(partner, 4000))
        for index, (topic, event) in enumerate(events[:3000]):
            if index == 2000:
                publisher.flush(30)
                assert publisher.report.delivered == 2000
                stack.down()
            receipts.append(publisher.publish(topic, event))
        # The last thousand through the bulk path: counted, no receipts.
        bulk_lines = [orjson.dumps(event) for _, event in events[3000:]]
        assert publish_lines(publisher, enumerate(bulk_lines, 1)).accepted == 1000
        with pytest.raises(DeliveryFailed):
            publisher.__exit__(None, None, None)
        report = publisher.report
        assert report.sent == 4000
        assert report.pending == 0
        assert report.delivered + report.failed == 4000
        assert report.failed >= 2000 - 100  # the few sent just before shutdown may land
        assert len(report.failed_records) == report.failed
        assert all(r.done for r in receipts)
        failed_ids = {orjson.loads(f.value)["event_id"] for f in report.failed_records}
        bulk_ids = {orjson.loads(line)["event_id"] for line in bulk_lines}
        # Sent after the broker stopped: every bulk record failed, bytes kept.
        assert bulk_ids <= failed_ids
        delivered_ids = {r.event_id for r in receipts if r.delivery is not None}
        assert len(failed_ids) == report.failed and not failed_ids & delivered_ids
        assert report.errors

        # What was acknowledged is really there once the broker is back.
        stack.up(timeout=180)
        got = read_back(bootstrap, partner, len(delivered_ids))
        assert {orjson.loads(v)["event_id"] for _, _, v in got} == delivered_ids
    finally:
        stack.down()
