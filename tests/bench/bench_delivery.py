"""Webhook delivery: activities delivered per second to a local receiver, and its cost to ingest.

Simulator events are pre-loaded in a broker of our own; then, each in a child
process with a fresh chDB store and fresh consumer groups:

* reference: bench_ingest's minimal confluent-kafka pipeline (the 0.33x goal's base);
* worker: the ingest worker alone (`processors.worker.IngestWorker`; it announces what it
  stores on `activity.stored.v1`, as it always does);
* worker + delivery: the worker and the delivery agent in one loop, as `serve` runs
  them, with one destination per simulated partner (every activity is delivered),
  all to one local receiver in a process of its own that answers 200 and counts.

Ingest is timed until the worker's group has committed every offset; delivery
until the delivery group has committed every offset of the stored-activity topic
that the worker wrote (every activity delivered), and the receiver's count of
distinct event ids is checked against the events published.

    .venv/bin/python -m tests.bench.bench_delivery                 # 200,000 events
    .venv/bin/python -m tests.bench.bench_delivery --events 50000

Figures from a busy machine say little: run it on a quiet one.
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
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

from activitylog.devstack.kafka import KafkaStack
from common.net import free_port
from common.settings import Settings
from query.destinations import Destinations
from schemas.migrate import open_migrated
from schemas.topics import STORED_TOPIC
from tests.bench import bench_ingest

DEFAULT_EVENTS = 200_000


def run_receiver(port: int) -> None:
    """Answer 200 to every POST; GET answers the distinct event ids and requests seen."""
    seen: set[str] = set()
    requests = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ids = [a["event_id"] for a in orjson.loads(body)["activities"]]
            with lock:
                seen.update(ids)
                requests[0] += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            with lock:
                out = orjson.dumps({"distinct": len(seen), "requests": requests[0]})
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: Any) -> None:
            return

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def run_with_delivery(
    bootstrap: str, group: str, store_dir: str, url: str, n: int
) -> dict[str, Any]:
    from activitylog.runtime import run_event_loop
    from processors.delivery.agent import DeliveryAgent
    from processors.worker import IngestWorker

    settings = Settings.from_env().with_overrides(
        kafka_bootstrap=bootstrap,
        clickhouse_url=f"chdb://{store_dir}",
        consumer_group=group,
        delivery_group=f"{group}-delivery",
        state_dir=Path(store_dir).parent / "state",
        destinations_allow_loopback=True,
    )
    store = open_migrated(settings.clickhouse_url)
    partners = sorted(
        {e["partner_id"] for _t, _k, v in bench_ingest._simulated(n) for e in [orjson.loads(v)]}
    )
    made = Destinations(store, settings, now=lambda: datetime.now(UTC))
    for partner in partners:
        made.create(None, {"url": url, "partner_id": partner}, "bench")
    ends = bench_ingest._end_offsets(bootstrap)
    ingested = bench_ingest._all_committed(bootstrap, group, ends)

    def stored_delivered() -> Any:
        """Once ingest is done: True when the agent has committed all the worker announced."""
        written = bench_ingest._end_offsets(bootstrap, (STORED_TOPIC,))
        announced = {tp: end for tp, end in written.items() if end > 0}
        return bench_ingest._all_committed(bootstrap, settings.delivery_group, announced)

    async def main() -> dict[str, Any]:
        started = time.perf_counter()
        worker = IngestWorker(settings, store)
        agent = DeliveryAgent(settings, open_migrated(settings.clickhouse_url))
        await worker.start()
        await agent.start()
        times: dict[str, float] = {}
        delivered: Any = None
        deadline = time.monotonic() + max(600.0, n / 200)
        while len(times) < 2 and time.monotonic() < deadline:
            if "ingest" not in times and await asyncio.to_thread(ingested):
                times["ingest"] = time.perf_counter() - started
                delivered = await asyncio.to_thread(stored_delivered)
            if (
                delivered is not None
                and "delivery" not in times
                and await asyncio.to_thread(delivered)
            ):
                times["delivery"] = time.perf_counter() - started
            if worker.app.crashed or agent.crashed:
                raise SystemExit(f"crashed: {worker.app.crash_reason} {agent.crash_reason}")
            await asyncio.sleep(0.2)
        await agent.stop()
        await worker.stop()
        return {"seconds": times.get("ingest"), "delivery_seconds": times.get("delivery")}

    result = run_event_loop(main())
    return {**result, "destinations": len(partners), **bench_ingest._verify(store)}


def _child(bootstrap: str, n: int, workdir: Path, url: str) -> dict[str, Any]:
    store_dir = workdir / "delivery" / "clickhouse"
    store_dir.parent.mkdir(parents=True)
    cmd = [sys.executable, "-m", "tests.bench.bench_delivery", "--phase", "delivery"]
    cmd += ["--bootstrap", bootstrap, "--group", f"bench-delivery-{os.getpid()}"]
    cmd += ["--store", str(store_dir), "--events", str(n), "--url", url]
    out_path, log_path = workdir / "delivery.out", workdir / "delivery.log"
    with out_path.open("wb") as out, log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=out, stderr=log)
        _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(
            f"delivery failed ({status}):\n{log_path.read_text(errors='replace')[-3000:]}"
        )
    result: dict[str, Any] = json.loads(out_path.read_text().strip().splitlines()[-1])
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def main(events: int = DEFAULT_EVENTS, partitions: int = 2) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        workdir = Path(tmp)
        settings = Settings.from_env().with_overrides(
            kafka_bootstrap=f"127.0.0.1:{free_port()}",
            state_dir=workdir / "kafka-state",
            topic_partitions=partitions,
        )
        port = free_port()
        command = [sys.executable, "-m", "tests.bench.bench_delivery", "--phase", "receiver"]
        receiver = subprocess.Popen([*command, "--port", str(port)])
        stack = KafkaStack(settings)
        stack.up(timeout=180)
        try:
            bootstrap = settings.kafka_bootstrap
            bench_ingest.load(bootstrap, events)
            ref = bench_ingest._child("reference", bootstrap, events, workdir)
            alone = bench_ingest._child("faust", bootstrap, events, workdir)
            both = _child(bootstrap, events, workdir, f"http://127.0.0.1:{port}/hook")
            seen = httpx.get(f"http://127.0.0.1:{port}/", timeout=10).json()
        finally:
            stack.down()
            receiver.terminate()
            receiver.wait()
    print(
        f"webhook delivery, {events:,} simulator events pre-loaded ({partitions} partitions), "
        f"{os.cpu_count()} CPUs  (python -m tests.bench.bench_delivery --events {events})"
    )
    print(f"  reference ingest            : {events / ref['seconds']:>9,.0f} events/s")
    print(
        f"  worker alone                : {events / alone['seconds']:>9,.0f} events/s "
        f"({ref['seconds'] / alone['seconds']:.2f}x the reference)"
    )
    ingest_s, delivery_s = both["seconds"], both["delivery_seconds"]
    if ingest_s is None or delivery_s is None:
        print(f"  worker + delivery did not finish: {both}")
        return
    print(
        f"  worker beside delivery      : {events / ingest_s:>9,.0f} events/s "
        f"({ref['seconds'] / ingest_s:.2f}x the reference, goal >= 0.33x; "
        f"{alone['seconds'] / ingest_s:.2f}x the worker alone)"
    )
    print(
        f"  delivered                   : {events / delivery_s:>9,.0f} activities/s to "
        f"{both['destinations']} destinations, {seen['requests']:,} requests, "
        f"{seen['distinct']:,} distinct ids received of {events:,}; "
        f"cpu {both['cpu_seconds']:.1f}s, peak RSS {both['peak_rss_mb']:.0f} MB"
    )


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--phase", choices=("delivery", "receiver"))
    parser.add_argument("--bootstrap")
    parser.add_argument("--group")
    parser.add_argument("--store")
    parser.add_argument("--url")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.phase == "receiver":
        run_receiver(args.port)
    elif args.phase == "delivery":
        print(
            json.dumps(
                run_with_delivery(args.bootstrap, args.group, args.store, args.url, args.events)
            )
        )
    else:
        main(args.events, args.partitions)


if __name__ == "__main__":
    _cli()
