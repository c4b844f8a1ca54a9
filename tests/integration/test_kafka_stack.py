"""The local broker launcher and topic administration against a real Kafka broker."""

from __future__ import annotations

import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from activitylog.devstack.kafka import KafkaStack
from common.errors import BrokerUnavailable
from common.net import free_port, port_is_free
from common.settings import Settings
from producers.topics import describe_topics, ensure_topics
from schemas.topics import ALL_TOPICS


def test_the_broker_has_the_v1_topics_with_the_configured_partitions(
    kafka_stack: KafkaStack, kafka_bootstrap: str
) -> None:
    infos = describe_topics(kafka_bootstrap, ALL_TOPICS)
    assert [i.name for i in infos] == list(ALL_TOPICS)
    for info in infos:
        assert info.exists, info.name
        assert info.partitions == kafka_stack.settings.topic_partitions, info.name
        assert info.replication == 1, info.name


def test_a_record_round_trips_with_its_key_and_headers(kafka_bootstrap: str) -> None:
    topic = f"test.round-trip.{uuid.uuid4().hex[:8]}"
    assert ensure_topics(kafka_bootstrap, [topic], partitions=2, replication=1) == [topic]
    headers = [("source", b"billing"), ("trace", b"\x00\x01")]

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        sent = producer.send(
            topic, key=b"customer-42", value=b'{"hello": "world"}', headers=headers
        ).get(timeout=30)
    finally:
        producer.close(timeout=10)

    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, group_id=None
    )
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(2)])
        consumer.seek_to_beginning()
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while not records and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()

    assert len(records) == 1, "the record did not come back within 30 s"
    record = records[0]
    assert (record.partition, record.offset) == (sent.partition, sent.offset)
    assert record.key == b"customer-42"
    assert record.value == b'{"hello": "world"}'
    assert list(record.headers) == headers
    [info] = describe_topics(kafka_bootstrap, [topic])
    assert info.records == 1


def test_ensure_topics_creates_only_what_is_missing(kafka_bootstrap: str) -> None:
    topic = f"test.idempotent.{uuid.uuid4().hex[:8]}"
    assert ensure_topics(kafka_bootstrap, [topic, ALL_TOPICS[0]], 3, 1) == [topic]
    assert ensure_topics(kafka_bootstrap, [topic, ALL_TOPICS[0]], 3, 1) == []
    [info] = describe_topics(kafka_bootstrap, [topic])
    assert (info.partitions, info.records) == (3, 0)


def test_up_again_returns_the_running_broker(
    kafka_stack: KafkaStack, caplog: pytest.LogCaptureFixture
) -> None:
    before = kafka_stack.status()
    formatted = kafka_stack.data_dir / "meta.properties"
    formatted_at = formatted.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="activitylog.devstack.kafka"):
        again = kafka_stack.up(timeout=30)
    assert again.pid == before.pid
    assert again.running and again.answering
    # Nothing is started again: no JVM start, no storage format.
    assert not [r for r in caplog.records if "starting Kafka broker" in r.getMessage()]
    assert formatted.stat().st_mtime_ns == formatted_at


def test_status_reports_a_running_answering_broker(
    kafka_stack: KafkaStack, kafka_bootstrap: str
) -> None:
    status = kafka_stack.status()
    assert status.running and status.answering
    assert status.pid is not None and status.pid > 0
    assert status.bootstrap == kafka_bootstrap
    assert status.state_dir == kafka_stack.state_dir
    assert status.log_file.is_file()
    assert kafka_stack.pid_file.read_text().strip() == str(status.pid)


def test_a_second_stack_on_the_same_port_is_refused(kafka_bootstrap: str, tmp_path: Path) -> None:
    other = KafkaStack(Settings(kafka_bootstrap=kafka_bootstrap, state_dir=tmp_path))
    with pytest.raises(BrokerUnavailable, match="already in use by another process"):
        other.up(timeout=10)


def test_down_stops_the_broker_and_status_then_says_not_running(tmp_path: Path) -> None:
    port = free_port()
    stack = KafkaStack(
        Settings(kafka_bootstrap=f"127.0.0.1:{port}", state_dir=tmp_path, topic_partitions=1)
    )
    try:
        pid = stack.up(timeout=120).pid
        assert pid is not None
    finally:
        stopped = stack.down(timeout=30)

    assert stopped is True
    status = stack.status()
    assert not status.running and not status.answering and status.pid is None
    assert not stack.pid_file.exists()
    assert not Path(f"/proc/{pid}").exists()
    assert port_is_free("127.0.0.1", port)
    assert stack.down() is False


def test_a_broker_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", state_dir=tmp_path)
    stack = KafkaStack(settings)
    stack.up(timeout=120)
    stack.down()
    # Storage formatted for node 1 that claims to be node 2: Kafka refuses to start.
    meta = stack.data_dir / "meta.properties"
    meta.write_text(re.sub(r"(?m)^node\.id=1$", "node.id=2", meta.read_text()))

    with pytest.raises(BrokerUnavailable) as err:
        stack.up(timeout=60)

    message = err.value.message
    assert "exited with code 1" in message
    assert str(stack.log_file) in message
    assert "Stored node id 2 doesn't match previous node id 1" in message
    assert not stack.status().running
    assert not stack.pid_file.exists()
