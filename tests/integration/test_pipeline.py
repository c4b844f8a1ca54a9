"""The walking skeleton on real components: kafka-python -> Kafka -> Faust -> chDB -> API/CSV."""

from __future__ import annotations

import csv
import io
import signal
import uuid
from pathlib import Path

import orjson
from kafka import KafkaConsumer

from schemas.dead_letter import ERROR_CLASS, REASON, SOURCE_OFFSET, SOURCE_TOPIC
from schemas.topics import DEAD_LETTER_TOPIC, PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import partner_events
from tests.fixtures.kafka import send_records
from tests.fixtures.serve import ServeProcess, committed_and_end_offsets, wait_until


def _count(serve: ServeProcess, key: str) -> int:
    # A page, not an export: every export is itself an activity (`export.create`, dated
    # now), and the CSV export below must hold exactly the events sent.
    response = serve.get(
        "/api/v1/activity", key, limit=1000, **{"from": "2026-10-01", "to": "2026-12-31"}
    )
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


def test_events_flow_into_the_store_once_and_bad_ones_into_the_dead_letter_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:8]}"
    key = "test-key"
    serve = ServeProcess(
        kafka_bootstrap,
        tmp_path,
        ACTIVITYLOG_API_KEYS=f"{key}={partner},other-key=ptn-someone-else",
        ACTIVITYLOG_CONSUMER_GROUP=f"g-{partner}",
    ).start()
    try:
        events = partner_events(partner, 40)
        encoded = [(t, str(e["customer_id"]).encode(), orjson.dumps(e)) for t, e in events]
        bad = b"{not json at all " + partner.encode()
        # The first five events are delivered twice: they must be stored once.
        send_records(kafka_bootstrap, [*encoded, *encoded[:5], (PARTNER_ACTIONS_TOPIC, b"k", bad)])

        # Count only once the worker is past every record sent, the duplicates included
        # (they may sit on a partition consumed after the 40 rows are visible).
        _, sent_through = committed_and_end_offsets(kafka_bootstrap, f"g-{partner}")

        def past_everything_sent() -> bool:
            committed, _ = committed_and_end_offsets(kafka_bootstrap, f"g-{partner}")
            return all((committed.get(tp) or 0) >= end for tp, end in sent_through.items())

        wait_until(past_everything_sent, 60, "the worker to commit past every record sent", 0.5)
        assert _count(serve, key) == 40
        # Another partner's key sees none of them.
        assert _count(serve, "other-key") == 0

        page = serve.get(
            "/api/v1/activity", key, limit=10, **{"from": "2026-11-01", "to": "2026-11-30"}
        ).json()
        assert len(page["items"]) == 10 and page["next_cursor"]
        stamps = [item["occurred_at"] for item in page["items"]]
        assert stamps == sorted(stamps, reverse=True)

        csv_response = serve.get(
            "/api/v1/activity/export",
            key,
            format="csv",
            **{"from": "2026-10-01", "to": "2026-12-31"},
        )
        body = csv_response.content
        assert body.startswith(b"\xef\xbb\xbf") and b"\r\n" in body
        assert "attachment" in csv_response.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
        assert rows[0][:6] == [
            "Date (UTC)",
            "Affected customer",
            "Action",
            "Partner user",
            "Status",
            "Additional information",
        ]
        assert len(rows) == 41
        order_rows = [r for r in rows[1:] if r[4].startswith("Order ord-")]
        assert order_rows and all(" × " in r[5] for r in order_rows)

        dead = _read_dead_letters(kafka_bootstrap, partner)
        assert len(dead) == 1
        value, headers = dead[0]
        assert value == bad
        assert headers[SOURCE_TOPIC] == PARTNER_ACTIONS_TOPIC.encode()
        assert headers[ERROR_CLASS] == b"InvalidEvent"
        assert b"JSON" in headers[REASON]
        assert headers[SOURCE_OFFSET].isdigit()
    finally:
        assert serve.stop() == 0, serve.log()


def test_a_restarted_worker_resumes_without_duplicates(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:8]}"
    env = {"ACTIVITYLOG_API_KEYS": f"k={partner}", "ACTIVITYLOG_CONSUMER_GROUP": f"g-{partner}"}
    first = partner_events(partner, 30)
    serve = ServeProcess(kafka_bootstrap, tmp_path, **env).start()
    try:
        send_records(kafka_bootstrap, [(t, b"c", orjson.dumps(e)) for t, e in first[:15]])
        wait_until(lambda: _count(serve, "k") >= 15, 60, "first 15 rows")
    finally:
        assert serve.stop(signal.SIGTERM) == 0, serve.log()

    send_records(kafka_bootstrap, [(t, b"c", orjson.dumps(e)) for t, e in first[15:]])
    serve = ServeProcess(kafka_bootstrap, tmp_path, **env)
    serve.start()
    try:
        wait_until(lambda: _count(serve, "k") >= 30, 60, "all 30 rows after restart")
        assert _count(serve, "k") == 30
    finally:
        assert serve.stop() == 0, serve.log()


def _read_dead_letters(bootstrap: str, marker: str) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = KafkaConsumer(
        DEAD_LETTER_TOPIC,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
        group_id=None,
    )
    found: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        for message in consumer:
            if message.value and marker.encode() in message.value:
                found.append((message.value, dict(message.headers)))
    finally:
        consumer.close()
    return found
