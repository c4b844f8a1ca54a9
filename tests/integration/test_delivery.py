"""Webhook delivery end to end: the real broker, `activitylog serve` as a child process
(worker + delivery agent + API on a real chDB store), and receivers the test controls."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from producers.publisher import ActivityPublisher
from query.destination_audit import DESTINATION_CREATE, audit_event_id
from schemas.destinations import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_valid
from schemas.topics import PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import valid_partner_action
from tests.fixtures.kafka import send_records
from tests.fixtures.receiver import HANG, Receiver
from tests.fixtures.serve import ServeProcess, wait_until

DELIVERY_ENV = {
    "ACTIVITYLOG_DESTINATIONS_ALLOW_LOOPBACK": "true",
    "ACTIVITYLOG_DELIVERY_TIMEOUT_SECONDS": "1",
    "ACTIVITYLOG_DELIVERY_BATCH_MAX_EVENTS": "10",
    "ACTIVITYLOG_KAFKA_SESSION_TIMEOUT": "6",
}


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


def receiver(made: list[Receiver], **kw: Any) -> Receiver:
    r = Receiver(**kw)
    made.append(r)
    return r


def serve(bootstrap: str, workdir: Path, **env: str) -> ServeProcess:
    group = f"delivery-{uuid.uuid4().hex[:8]}"
    return ServeProcess(
        bootstrap,
        workdir,
        ACTIVITYLOG_CONSUMER_GROUP=f"worker-{group}",
        ACTIVITYLOG_DELIVERY_GROUP=group,
        **(DELIVERY_ENV | env),
    ).start()


def add_destination(proc: ServeProcess, partner: str, url: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{proc.url}/api/v1/destinations",
        json={"url": url, "partner_id": partner, **body},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def published_ids(r: Receiver) -> list[str]:
    """What `r` accepted, without the destinations' own audit activities: adding one is an
    activity of the partner's log (`destination.create`), delivered like any other."""
    return [
        a["event_id"]
        for request in r.accepted()
        for a in json.loads(request.body)["activities"]
        if not a["action"].startswith("destination.")
    ]


def publish(bootstrap: str, partner: str, n: int, customer: str = "cust-1") -> list[str]:
    """`n` valid actions of `partner`, one customer (one partition): their ids in order."""
    events = [
        valid_partner_action(
            partner_id=partner,
            customer_id=customer,
            occurred_at=f"2026-11-20T10:{i // 60:02d}:{i % 60:02d}.000Z",
        )
        for i in range(n)
    ]
    with ActivityPublisher(bootstrap) as publisher:
        for event in events:
            publisher.publish(PARTNER_ACTIONS_TOPIC, event)
    return [e["event_id"] for e in events]


def stored_ids(proc: ServeProcess, partner: str) -> set[str]:
    params = {"from": "2026-11-01", "to": "2026-11-30", "limit": 1000, "partner_id": partner}
    response = httpx.get(f"{proc.url}/api/v1/activity", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return {item["event_id"] for item in response.json()["items"] if item["partner_id"] == partner}


def test_every_stored_activity_of_the_partner_arrives_signed_in_order_and_no_other(
    kafka_bootstrap: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    mine, theirs = f"ptn-{uuid.uuid4().hex[:6]}", f"ptn-{uuid.uuid4().hex[:6]}"
    proc = serve(kafka_bootstrap, tmp_path)
    try:
        ours = receiver(receivers)
        created = add_destination(proc, mine, ours.url)
        published = publish(kafka_bootstrap, mine, 45)
        publish(kafka_bootstrap, theirs, 10)
        # A message the worker dead-letters (no occurred_at type it accepts) is never delivered.
        bad = valid_partner_action(partner_id=mine, occurred_at="yesterday")
        send_records(
            kafka_bootstrap, [(PARTNER_ACTIONS_TOPIC, b"cust-1", json.dumps(bad).encode())]
        )
        wait_until(lambda: set(published_ids(ours)) >= set(published), 90, "every activity")
        later = publish(kafka_bootstrap, mine, 1)  # after the bad one: it arrives, the bad one not
        wait_until(lambda: later[0] in ours.accepted_ids(), 60, "the activity after the bad one")
        assert stored_ids(proc, mine) == set(published) | set(later)
        figures = proc.get(f"/api/v1/destinations/{created['id']}").json()["delivery"]
        assert figures["delivered"] >= len(published) + 1 and figures["last_success_at"]
        assert (figures["parked"], figures["pending"]) == (0, 0)
        assert set(published_ids(ours)) == set(published) | set(later)
        assert audit_event_id(DESTINATION_CREATE, created["id"]) in ours.accepted_ids()
        assert bad["event_id"] not in ours.accepted_ids()
        assert published_ids(ours)[: len(published)] == published  # one partition: in order
        for request in ours.accepted():
            assert signature_valid(
                created["secret"],
                request.headers[TIMESTAMP_HEADER],
                request.body,
                request.headers[SIGNATURE_HEADER],
            )
            assert request.headers["Idempotency-Key"] == ",".join(request.ids)
            assert len(request.ids) <= 10
            assert {a["partner_id"] for a in json.loads(request.body)["activities"]} == {mine}
    finally:
        assert proc.stop() == 0, proc.log()


def destination_state(proc: ServeProcess, destination_id: str) -> str:
    state: str = proc.get(f"/api/v1/destinations/{destination_id}").json()["state"]
    return state


def parked(proc: ServeProcess, destination_id: str) -> float:
    for line in proc.get("/metrics").text.splitlines():
        if line.startswith("activitylog_delivery_parked_total{") and destination_id in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_kill_9_then_500s_then_429_then_recovery_lose_nothing_and_repeat_only_retried_ids(
    kafka_bootstrap: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:6]}"

    restart = {"at": 10**9}  # the first request number after the restart

    def script(n: int) -> tuple[int, dict[str, str]]:
        after = n - restart["at"]
        if after in (0, 1, 2, 3):
            return 500, {}
        if after in (4, 5):
            return 429, {"Retry-After": "1"}
        return 200, {}

    flaky = receiver(receivers, script=script)
    proc = serve(kafka_bootstrap, tmp_path)
    try:
        add_destination(proc, partner, flaky.url)
        first = publish(kafka_bootstrap, partner, 30)
        wait_until(lambda: len(flaky.accepted()) >= 1, 60, "a first delivered request")
        proc.stop(signal.SIGKILL)
        with flaky.lock:
            restart["at"] = len(flaky.requests)
        before_kill = set(flaky.accepted_ids())
        second = publish(kafka_bootstrap, partner, 30)
        proc.start()
        everything = first + second
        wait_until(lambda: set(flaky.accepted_ids()) >= set(everything), 120, "every activity")
        assert stored_ids(proc, partner) == set(everything)
    finally:
        assert proc.stop() == 0, proc.log()
    after = flaky.requests[restart["at"] :]
    assert [r.status for r in after[:7]] == [500, 500, 500, 500, 429, 429, 200]
    # A retried request carries the same event ids; the 429's Retry-After was waited out.
    assert all(r.ids == after[0].ids for r in after[:7])
    assert after[5].at - after[4].at >= 0.9
    assert after[6].at - after[5].at >= 0.9
    retried = {i for r in flaky.requests if not 200 <= r.status < 300 for i in r.ids}
    accepted = flaky.accepted_ids()
    twice = {i for i in accepted if accepted.count(i) > 1}
    # Repeated only where a retry was needed, or where the kill -9 left a delivery uncommitted.
    assert twice <= retried | before_kill
    for request in flaky.requests:
        assert request.headers["Idempotency-Key"] == ",".join(request.ids)


def test_a_hanging_receiver_delays_neither_another_destination_nor_ingest(
    kafka_bootstrap: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:6]}"
    hanging = receiver(receivers, script=lambda n: HANG)
    healthy = receiver(receivers)
    proc = serve(kafka_bootstrap, tmp_path, ACTIVITYLOG_DELIVERY_FAILING_AFTER_SECONDS="600")
    try:
        add_destination(proc, partner, hanging.url)
        add_destination(proc, partner, healthy.url)
        started = time.monotonic()
        published = publish(kafka_bootstrap, partner, 40)
        wait_until(lambda: stored_ids(proc, partner) == set(published), 60, "ingest")
        stored_after = time.monotonic() - started
        wait_until(lambda: set(published_ids(healthy)) == set(published), 60, "the healthy one")
        delivered_after = time.monotonic() - started
        # Everything stored and delivered elsewhere while the hanging one still holds it all.
        assert hanging.requests and not hanging.accepted()
        assert published_ids(healthy) == published
        print(f"stored after {stored_after:.2f} s, delivered after {delivered_after:.2f} s")
    finally:
        assert proc.stop() == 0, proc.log()


def test_a_failing_destination_parks_then_replay_delivers_in_order_and_it_resumes(
    kafka_bootstrap: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:6]}"
    healed = {"now": False}
    target = receiver(receivers, script=lambda n: (200, {}) if healed["now"] else (503, {}))
    proc = serve(kafka_bootstrap, tmp_path, ACTIVITYLOG_DELIVERY_FAILING_AFTER_SECONDS="2")
    try:
        created = add_destination(proc, partner, target.url)
        parked_ids = publish(kafka_bootstrap, partner, 25)
        wait_until(lambda: destination_state(proc, created["id"]) == "failing", 60, "failing")
        wait_until(lambda: parked(proc, created["id"]) >= 25, 60, "every activity parked")
        assert not target.accepted()
        healed["now"] = True
        asked = httpx.post(f"{proc.url}/api/v1/destinations/{created['id']}/replay", timeout=30)
        assert asked.status_code == 202, asked.text
        wait_until(lambda: published_ids(target) == parked_ids, 60, "the replay, in order")
        wait_until(lambda: destination_state(proc, created["id"]) == "active", 30, "active")
        live = publish(kafka_bootstrap, partner, 5)
        wait_until(lambda: published_ids(target) == parked_ids + live, 60, "live delivery")
    finally:
        assert proc.stop() == 0, proc.log()
