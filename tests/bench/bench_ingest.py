"""End-to-end ingest: simulator events already in Kafka -> every offset committed.

Two pipelines read the same events from the same broker, each into a fresh
chDB store with a fresh consumer group, each in its own child process
(so CPU time and peak RSS are its own):

* reference: the minimal hand-written pipeline of the issue: confluent-kafka
  `consume(20000, 1.0)` batches, `orjson.loads`, one columnar insert per
  batch into the same `activity` table, a synchronous commit after it;
* faust: our worker (`processors.worker.IngestWorker`, the product's defaults),
  timed from the moment it starts until the consumer group's committed
  offsets reach the end of every partition.

Both children then check `SELECT count() FROM activity FINAL` and the
number of distinct event ids against the number published.

    .venv/bin/python -m tests.bench.bench_ingest               # 1,000,000 events
    .venv/bin/python -m tests.bench.bench_ingest --events 100000

A broker of our own is started on a free port (the local Kafka launcher),
with the v1 topics at `--partitions` partitions, and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from activitylog.devstack.kafka import KafkaStack
from common.net import free_port
from common.settings import Settings
from schemas.migrate import open_migrated
from schemas.topics import SOURCE_TOPICS

DEFAULT_EVENTS = 1_000_000
REFERENCE_COLUMNS = (
    "partner_id",
    "occurred_at",
    "event_id",
    "kind",
    "action",
    "customer_id",
    "customer_name",
    "partner_user",
    "payload",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
)


# ----------------------------------------------------------------- loading


def _simulated(n: int) -> Iterator[tuple[str, bytes, bytes]]:
    from producers.simulate import SimulationSpec, simulate

    end = datetime(2026, 11, 1, tzinfo=UTC)
    spec = SimulationSpec(seed=4, start=end - timedelta(days=365), end=end, events=n, partners=20)
    for topic, event in simulate(spec):
        yield topic, str(event["customer_id"]).encode(), orjson.dumps(event)


def load(bootstrap: str, n: int) -> float:
    """Publish `n` simulator events with confluent-kafka; return the seconds it took."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
        }
    )
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    started = time.perf_counter()
    for topic, key, value in _simulated(n):
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(120)
    if remaining or failures:
        raise SystemExit(f"loading failed: {remaining} undelivered, errors {failures[:3]}")
    return time.perf_counter() - started


# ----------------------------------------------------------------- completion


def _end_offsets(
    bootstrap: str, topics: Sequence[str] = SOURCE_TOPICS
) -> dict[tuple[str, int], int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks"})
    try:
        out: dict[tuple[str, int], int] = {}
        metadata = c.list_topics(timeout=30)
        for topic in topics:
            for p in metadata.topics[topic].partitions:
                _low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
                out[(topic, p)] = high
        return out
    finally:
        c.close()


def _all_committed(bootstrap: str, group: str, ends: dict[tuple[str, int], int]) -> Any:
    """A callable: True once `group`'s committed offsets reach every end offset."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    parts = [TopicPartition(t, p) for (t, p) in ends]

    def check() -> bool:
        committed = c.committed(parts, timeout=10)
        return all(tp.offset >= ends[(tp.topic, tp.partition)] for tp in committed)

    check.close = c.close  # type: ignore[attr-defined]
    return check


# ----------------------------------------------------------------- the two pipelines


def _verify(store: Any) -> dict[str, int]:
    rows = store.query_rows("SELECT count(), uniqExact(event_id) FROM activity FINAL")
    raw = store.query_rows("SELECT count() FROM activity")
    return {"stored": int(rows[0][0]), "unique": int(rows[0][1]), "raw_rows": int(raw[0][0])}


def run_reference(bootstrap: str, group: str, store_dir: str, n: int) -> dict[str, Any]:
    from confluent_kafka import Consumer

    store = open_migrated(f"chdb://{store_dir}")
    started = time.perf_counter()
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 64 * 1024 * 1024,
        }
    )
    consumer.subscribe(list(SOURCE_TOPICS))
    done = 0
    loads = orjson.loads
    parse = datetime.fromisoformat
    while done < n:
        messages = consumer.consume(20_000, 1.0)
        if not messages:
            continue
        columns: list[list[Any]] = [[] for _ in REFERENCE_COLUMNS]
        (partner, occurred, event_id, kind, action, customer, name, user, payload) = columns[:9]
        topics, partitions, offsets = columns[9:]
        for m in messages:
            if m.error():
                continue
            value = m.value()
            e = loads(value)
            partner.append(e["partner_id"])
            occurred.append(parse(e["occurred_at"]).astimezone(UTC))
            event_id.append(e["event_id"])
            is_order = "order_id" in e
            kind.append("order" if is_order else "partner_action")
            action.append(f"order.{e['order_status']}" if is_order else e["action"])
            customer.append(e["customer_id"])
            name.append(e["customer_name"])
            user.append(e["partner_user"])
            payload.append(value.decode())
            topics.append(m.topic())
            partitions.append(m.partition())
            offsets.append(m.offset())
        store.insert_columns("activity", columns, REFERENCE_COLUMNS)
        consumer.commit(asynchronous=False)
        done += len(event_id)
    elapsed = time.perf_counter() - started
    consumer.close()
    return {"seconds": elapsed, **_verify(store)}


def run_faust(bootstrap: str, group: str, store_dir: str, n: int) -> dict[str, Any]:
    import logging

    from processors import fast_consumer
    from processors.worker import IngestWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    settings = Settings.from_env().with_overrides(
        kafka_bootstrap=bootstrap,
        clickhouse_url=f"chdb://{store_dir}",
        consumer_group=group,
        state_dir=Path(store_dir).parent / "faust-state",
    )
    store = open_migrated(settings.clickhouse_url)
    ends = _end_offsets(bootstrap)
    committed = _all_committed(bootstrap, group, ends)
    done = threading.Event()

    deadline = time.monotonic() + max(300.0, n / 1000)

    def watch() -> None:
        while not committed():
            if time.monotonic() > deadline:
                print("faust worker did not commit every offset in time", file=sys.stderr)
                os._exit(3)
            time.sleep(0.2)
        done.set()

    async def main() -> dict[str, Any]:
        started = time.perf_counter()
        worker = IngestWorker(settings, store)
        await worker.start()
        threading.Thread(target=watch, daemon=True).start()
        while not done.is_set():
            if worker.app.crashed:
                raise SystemExit(f"the worker crashed: {worker.app.crash_reason!r}")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        active = fast_consumer.is_active(worker.app)
        await worker.stop()
        return {"seconds": elapsed, "fast_consumer": active}

    from activitylog.runtime import run_event_loop

    # The same event loop as `activitylog worker` (uvloop when installed).
    result = run_event_loop(main())
    committed.close()
    return {**result, **_verify(store)}


# ----------------------------------------------------------------- orchestration


def _child(phase: str, bootstrap: str, n: int, workdir: Path) -> dict[str, Any]:
    """Run one pipeline in a child process; add its CPU seconds and peak RSS."""
    store_dir = workdir / phase / "clickhouse"
    store_dir.parent.mkdir(parents=True)
    group = f"bench-{phase}-{os.getpid()}"
    cmd = [sys.executable, "-m", "tests.bench.bench_ingest", "--phase", phase]
    cmd += ["--bootstrap", bootstrap, "--group", group, "--store", str(store_dir)]
    cmd += ["--events", str(n)]
    out_path, log_path = workdir / f"{phase}.out", workdir / f"{phase}.log"
    # Files, not pipes: a child logging more than a pipe holds would block.
    with out_path.open("wb") as out, log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=out, stderr=log)
        _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{phase} failed ({status}):\n{tail}")
    result: dict[str, Any] = json.loads(out_path.read_text().strip().splitlines()[-1])
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def main(events: int = DEFAULT_EVENTS, partitions: int = 2) -> None:
    # SIGTERM (e.g. `timeout`) must still run the `finally` that stops the broker.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        settings = Settings.from_env().with_overrides(
            kafka_bootstrap=f"127.0.0.1:{free_port()}",
            state_dir=workdir / "kafka-state",
            topic_partitions=partitions,
        )
        stack = KafkaStack(settings)
        stack.up(timeout=180)
        try:
            bootstrap = settings.kafka_bootstrap
            load_s = load(bootstrap, events)
            ref = _child("reference", bootstrap, events, workdir)
            ours = _child("faust", bootstrap, events, workdir)
        finally:
            stack.down()
    print(
        f"end-to-end ingest, {events:,} simulator events pre-loaded in Kafka "
        f"({partitions} partitions per topic, loaded in {load_s:.1f}s), "
        f"{os.cpu_count()} CPUs"
    )
    print(f"  (python -m tests.bench.bench_ingest --events {events})")
    for label, r in (("reference (confluent-kafka, orjson)", ref), ("faust worker", ours)):
        rate = events / r["seconds"]
        print(
            f"  {label:<36}: {rate:>9,.0f} events/s  {r['seconds']:>7.1f}s  "
            f"cpu {r['cpu_seconds']:>6.1f}s  peak RSS {r['peak_rss_mb']:>6.0f} MB  "
            f"stored {r['stored']:,} unique {r['unique']:,}"
        )
    print(
        f"  ratio faust/reference: {ref['seconds'] / ours['seconds']:.2f}x "
        f"(goal 0.33x, stretch 0.5x); fast consumer active: {ours.get('fast_consumer')}"
    )
    for label, r in (("reference", ref), ("faust", ours)):
        if r["stored"] != events or r["unique"] != events:
            print(f"  WARNING: {label} stored {r['stored']:,} of {events:,} events")


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--phase", choices=("reference", "faust"))
    parser.add_argument("--bootstrap")
    parser.add_argument("--group")
    parser.add_argument("--store")
    args = parser.parse_args()
    if args.phase is None:
        main(args.events, args.partitions)
        return
    runner = run_reference if args.phase == "reference" else run_faust
    result = runner(args.bootstrap, args.group, args.store, args.events)
    print(json.dumps(result))


if __name__ == "__main__":
    _cli()
