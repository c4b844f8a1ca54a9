"""Publish rate of simulator events: our publisher vs a plain kafka-python loop vs confluent-kafka.

Same broker (a local Kafka 4.x started here on a free port), same events (the
simulator's mix, written once to a JSONL file), each variant in its own
subprocess so its peak RSS is its own. Every variant starts from the JSONL
lines in memory; the clock covers decode/validate, send and the final flush.

    .venv/bin/python -m tests.bench.bench_publish [--events N]   # default 1,000,000

Variants:
  plain     KafkaProducer(value_serializer=json.dumps).send(topic, event) loop (the reference)
  publish   ActivityPublisher.publish(topic, event) per event (validated, dict in)
  bulk      publish_lines(): what `activitylog produce` does (validated, bytes sent as read)
  bulk-raw  publish_lines(validate=False): pre-validated input, the library's ceiling
  confluent confluent-kafka Producer.produce of the same bytes (reference only, not a dependency)
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

VARIANTS = ("plain", "publish", "bulk", "bulk-raw", "confluent")


def _child(variant: str, bootstrap: str, path: str) -> dict[str, Any]:
    """Run one variant in this process; returns its figures."""
    import orjson

    lines = Path(path).read_bytes().splitlines()
    n = len(lines)
    delivered = failed = 0
    gc.collect()
    gc.freeze()
    if variant == "plain":
        from kafka import KafkaProducer

        from producers.simulate import topic_for_event

        producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            value_serializer=lambda v: json.dumps(v).encode(),
            key_serializer=str.encode,
        )
        started = time.perf_counter()
        for line in lines:
            event = orjson.loads(line)
            producer.send(topic_for_event(event), key=event["customer_id"], value=event)
        producer.flush()
        elapsed = time.perf_counter() - started
        producer.close()
        delivered = -1  # the plain loop cannot tell
    elif variant in ("publish", "bulk", "bulk-raw"):
        from producers.bulk import publish_lines
        from producers.publisher import ActivityPublisher
        from producers.simulate import topic_for_event

        publisher = ActivityPublisher(bootstrap)
        started = time.perf_counter()
        if variant == "publish":
            publisher.publish_many(
                (topic_for_event(e), e) for e in (orjson.loads(line) for line in lines)
            )
        else:
            publish_lines(publisher, enumerate(lines, 1), validate=variant == "bulk")
        report = publisher.flush(600)
        elapsed = time.perf_counter() - started
        report = publisher.close()
        delivered, failed = report.delivered, report.failed + report.pending
    else:
        from confluent_kafka import Producer

        from producers.simulate import topic_for_event

        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
        counts = [0, 0]

        def on_delivery(err: Any, _msg: Any) -> None:
            counts[1 if err else 0] += 1

        started = time.perf_counter()
        for line in lines:
            event = orjson.loads(line)
            while True:
                try:
                    producer.produce(
                        topic_for_event(event),
                        value=line,
                        key=event["customer_id"].encode(),
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        producer.flush(600)
        elapsed = time.perf_counter() - started
        delivered, failed = counts
    rss_mb = _peak_rss_mb()
    return {
        "variant": variant,
        "n": n,
        "seconds": elapsed,
        "delivered": delivered,
        "failed": failed,
        "rss_mb": rss_mb,
    }


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM restarts at exec, unlike ru_maxrss on Linux."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write_events(path: Path, n: int) -> None:
    from producers.simulate import SimulationSpec, simulate, write_jsonl

    end = datetime(2026, 11, 1, tzinfo=UTC)
    write_jsonl(
        simulate(SimulationSpec(seed=11, start=end - timedelta(days=30), end=end, events=n)), path
    )


def main(events: int = 1_000_000) -> None:
    from activitylog.kafka_stack import KafkaStack, free_port
    from activitylog.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        path = Path(tmp) / "events.jsonl"
        _write_events(path, events)
        settings = Settings.from_env().with_overrides(
            kafka_bootstrap=f"127.0.0.1:{free_port()}", state_dir=Path(tmp) / "kafka"
        )
        stack = KafkaStack(settings)
        stack.up(timeout=180)
        results: dict[str, dict[str, Any]] = {}
        try:
            for variant in VARIANTS:
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "tests.bench.bench_publish",
                        "--child",
                        variant,
                        settings.kafka_bootstrap,
                        str(path),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if out.returncode != 0:
                    print(f"  {variant}: failed: {out.stderr.strip().splitlines()[-1:]}")
                    continue
                results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            stack.down()
    print(
        f"publish, {events:,} simulator events, 2 partitions, acks=all, one run each "
        f"(python -m tests.bench.bench_publish --events {events})"
    )
    ref = results.get("plain")
    for variant, r in results.items():
        rate = r["n"] / r["seconds"]
        ratio = f"{rate / (ref['n'] / ref['seconds']):5.2f}x" if ref else "   n/a"
        acked = (
            "not tracked"
            if r["delivered"] < 0
            else f"{r['delivered']:,} acked, {r['failed']:,} failed"
        )
        rss = f"peak RSS {r['rss_mb']:>6,.0f} MB"
        print(f"  {variant:<10} {rate:>10,.0f} events/s  {ratio}  {rss}  ({acked})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "BOOTSTRAP", "FILE"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
    else:
        main(args.events)
