"""Server mode: `activitylog worker` processes share the partitions through the consumer group.

In embedded mode two processes cannot share one chDB directory, so each
worker here writes to a store of its own. That still checks what the
consumer group promises: each worker is assigned a share of the
partitions, the shares are disjoint and cover every partition, and the
events stored by the two together are every published event, each exactly
once (no event in both stores, none missing).
"""

from __future__ import annotations

import re
import signal
import uuid
from pathlib import Path

import orjson
from kafka import KafkaProducer

from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC, SOURCE_TOPICS
from tests.fixtures.events import valid_order, valid_partner_action
from tests.fixtures.serve import (
    ServeProcess,
    committed_and_end_offsets,
    store_counts,
    wait_until,
)

_ASSIGNED = re.compile(r"event=partitions_assigned partitions=(\S+)")


def _assignment(worker: ServeProcess) -> set[str]:
    """The partitions of the worker's latest assignment, from its structured log."""
    found = _ASSIGNED.findall(worker.log_path.read_text(errors="replace"))
    if not found or found[-1] == "-":
        return set()
    return set(found[-1].split(","))


def test_two_workers_split_the_partitions_and_store_every_event_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:8]}"
    group = f"g-{partner}"
    workers = [
        ServeProcess(
            kafka_bootstrap, tmp_path / name, command="worker", ACTIVITYLOG_CONSUMER_GROUP=group
        ).start()
        for name in ("w1", "w2")
    ]
    try:
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        partitions = {f"{t}:{p}" for t in SOURCE_TOPICS for p in producer.partitions_for(t) or ()}
        assert len(partitions) >= 2

        def split() -> bool:
            a, b = (_assignment(w) for w in workers)
            return bool(a) and bool(b) and not (a & b) and (a | b) == partitions

        wait_until(split, 120, "both workers holding a disjoint share of all partitions")

        published: list[str] = []
        for i in range(2000):
            event_id = str(uuid.uuid4())
            common = {
                "event_id": event_id,
                "partner_id": partner,
                "customer_id": f"cust-{i % 50}",  # keys spread over every partition
                "occurred_at": "2026-11-05T08:00:00Z",
            }
            if i % 3 == 0:
                topic, event = ORDERS_TOPIC, valid_order(**common)
            else:
                topic, event = PARTNER_ACTIONS_TOPIC, valid_partner_action(**common)
            producer.send(topic, key=str(common["customer_id"]).encode(), value=orjson.dumps(event))
            published.append(event_id)
        producer.flush(60)
        producer.close()

        def all_committed() -> bool:
            committed, ends = committed_and_end_offsets(kafka_bootstrap, group)
            return all(committed.get(tp) == end for tp, end in ends.items())

        wait_until(all_committed, 120, "the group to commit every offset", every=0.5)
        assert split(), "a rebalance happened while the events were processed"
    finally:
        codes = [w.stop(signal.SIGTERM) for w in workers]
    assert codes == [0, 0], [w.log() for w in workers]

    ids = [set(store_counts(w.workdir / "clickhouse", partner)["ids"]) for w in workers]
    assert all(ids), "each worker stored a share"
    assert not (ids[0] & ids[1])
    assert ids[0] | ids[1] == set(published)
