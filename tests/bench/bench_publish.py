"""Publish rate of simulator events: our publisher vs a plain kafka-python loop vs confluent-kafka.

Same broker (a local Kafka 4.x started here on a free port), same events (the
simulator's mix, written once to a JSONL file), each variant in its own
subprocess whose peak RSS the parent reads when it reaps it (`os.wait4`:
the child's own `ru_maxrss`, not the cumulative RUSAGE_CHILDREN maximum).
Every variant streams the JSONL file (in the page cache after the first
read) rather than holding it in memory, so the RSS is the producer's own;
the clock covers reading, decode/validate, send and the final flush.

    .venv/bin/python -m tests.bench.bench_publish [--events N]   # default 1,000,000

Variants:
  plain     KafkaProducer(value_serializer=json.dumps).send(topic, event) loop (the reference)
  plain-bare the same loop on kafka-python as `pip install kafka-python` leaves it: without
            the optional crc32c package (pure-Python checksums), the loop docs/components.md's
            calibration measured its 6.3x against; our publisher always has crc32c
  publish   ActivityPublisher.publish(topic, event) per event (validated, dict in)
  bulk      publish_lines(): what `activitylog produce` does (validated, bytes sent as read)
  bulk-raw  publish_lines(validate=False): pre-validated input, the library's ceiling
  parallel  publish_file(workers=2): `activitylog produce FILE` on a large file (validated),
            one process per core sharded by Kafka key (its RSS is per process)
  confluent confluent-kafka Producer.produce of the same bytes (reference only, not a dependency)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PARALLEL_WORKERS = 2
VARIANTS = ("plain", "plain-bare", "publish", "bulk", "bulk-raw", "parallel", "confluent")


def _child(variant: str, bootstrap: str, path: str) -> dict[str, Any]:
    """Run one variant in this process; returns its figures."""
    import orjson

    # Read once untimed so every variant finds the file in the page cache.
    with open(path, "rb") as warm:
        n = sum(1 for _ in warm)
    source = open(path, "rb")  # noqa: SIM115  # closed after the timed part
    lines = (line.rstrip(b"\n") for line in source)
    delivered = failed = 0
    worker_rss = 0.0
    gc.collect()
    gc.freeze()
    if variant in ("plain", "plain-bare"):
        if variant == "plain-bare":
            sys.modules["crc32c"] = None  # type: ignore[assignment]  # kafka-python falls back
        from kafka import KafkaProducer

        from schemas.topics import topic_for_event

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
        from schemas.topics import topic_for_event

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
    elif variant == "parallel":
        import resource

        from producers.parallel import publish_file

        started = time.perf_counter()
        outcome = publish_file(path, bootstrap, PARALLEL_WORKERS)
        elapsed = time.perf_counter() - started
        report = outcome.report
        delivered, failed = report.delivered, report.failed + report.pending
        worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    else:
        from confluent_kafka import Producer

        from schemas.topics import topic_for_event

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
    source.close()
    return {
        "variant": variant,
        "n": n,
        "seconds": elapsed,
        "delivered": delivered,
        "failed": failed,
        "worker_rss_mb": worker_rss,
    }


def _run_child(variant: str, bootstrap: str, path: Path, tmp: Path) -> dict[str, Any]:
    """Run one variant in a fresh process; its figures plus its own peak RSS (MB).

    The parent reaps the child with `os.wait4`, whose rusage is that child's
    alone (Linux `ru_maxrss` in KiB); `subprocess.run` would reap it first.
    """
    out_path, err_path = tmp / f"{variant}.out", tmp / f"{variant}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.bench.bench_publish",
                "--child",
                variant,
                bootstrap,
                str(path),
            ],
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        last = err_path.read_text(errors="replace").strip().splitlines()[-1:]
        raise RuntimeError(f"exit {proc.returncode}: {last}")
    figures: dict[str, Any] = json.loads(out_path.read_text().strip().splitlines()[-1])
    figures["rss_mb"] = usage.ru_maxrss / 1024
    return figures


def _write_events(path: Path, n: int) -> None:
    from producers.simulate import SimulationSpec, simulate, write_jsonl

    end = datetime(2026, 11, 1, tzinfo=UTC)
    write_jsonl(
        simulate(SimulationSpec(seed=11, start=end - timedelta(days=30), end=end, events=n)), path
    )


def main(events: int = 1_000_000) -> None:
    from activitylog.devstack.kafka import KafkaStack
    from common.net import free_port
    from common.settings import Settings

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
                try:
                    results[variant] = _run_child(
                        variant, settings.kafka_bootstrap, path, Path(tmp)
                    )
                except RuntimeError as exc:
                    print(f"  {variant}: failed: {exc}")
        finally:
            stack.down()
    print(
        f"publish, {events:,} simulator events, 2 partitions, acks=all, one run each "
        f"(python -m tests.bench.bench_publish --events {events})"
    )
    ref, bare = results.get("plain"), results.get("plain-bare")
    print("  ratios: against the plain loop, and the bare loop (docs/components.md's baseline)")
    for variant, r in results.items():
        rate = r["n"] / r["seconds"]
        ratio = f"{rate / (ref['n'] / ref['seconds']):5.2f}x" if ref else "   n/a"
        ratio += f" {rate / (bare['n'] / bare['seconds']):5.2f}x" if bare else "    n/a"
        acked = (
            "not tracked"
            if r["delivered"] < 0
            else f"{r['delivered']:,} acked, {r['failed']:,} failed"
        )
        rss = f"peak RSS {r['rss_mb']:>6,.0f} MB"
        if r.get("worker_rss_mb"):
            rss += f" (+ {PARALLEL_WORKERS} workers of {r['worker_rss_mb']:,.0f} MB)"
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
