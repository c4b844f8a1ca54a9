"""Disk footprint of the activity table: rows per GB on disk, for capacity planning.

Reference: the same events as raw JSON bytes (what Kafka keeps, uncompressed).

    .venv/bin/python -m tests.bench.bench_storage [EVENTS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import orjson

from common.store import Store
from processors.batch import Consumed, process_batch, to_columns
from producers.simulate import SimulationSpec, simulate
from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_TABLE
from schemas.migrate import open_migrated

BATCH = 50_000


def main(n: int = 500_000) -> None:
    end = datetime(2026, 11, 1, tzinfo=UTC)
    spec = SimulationSpec(seed=5, start=end - timedelta(days=90), end=end, events=n)
    raw_bytes = 0
    with tempfile.TemporaryDirectory() as tmp:
        store = open_migrated(f"chdb://{tmp}/ch")
        started = time.perf_counter()
        batch: list[Consumed] = []
        for i, (topic, event) in enumerate(simulate(spec)):
            value = orjson.dumps(event)
            raw_bytes += len(value)
            batch.append(Consumed(topic, 0, i, None, value))
            if len(batch) == BATCH:
                _insert(store, batch)
                batch = []
        if batch:
            _insert(store, batch)
        store.command(f"OPTIMIZE TABLE {ACTIVITY_TABLE} FINAL")
        elapsed = time.perf_counter() - started
        on_disk, uncompressed = store.query_rows(
            "SELECT sum(bytes_on_disk), sum(data_uncompressed_bytes) FROM system.parts "
            "WHERE database = currentDatabase() AND table = {t:String} AND active",
            {"t": ACTIVITY_TABLE},
        )[0]
        store.close()
    print(f"storage, {n} simulator events over 90 days (python -m tests.bench.bench_storage)")
    print(f"  raw JSON (reference)  : {raw_bytes / n:8.0f} B/event, {raw_bytes / 1e6:8.1f} MB")
    print(f"  ClickHouse on disk    : {on_disk / n:8.0f} B/row,   {on_disk / 1e6:8.1f} MB")
    print(f"  uncompressed columns  : {uncompressed / n:8.0f} B/row")
    print(f"  rows per GB on disk   : {1e9 / (on_disk / n):12,.0f}")
    print(f"  load time (normalize + insert + merge): {elapsed:.1f}s")


def _insert(store: Store, batch: list[Consumed]) -> None:
    result = process_batch(batch, datetime.now(UTC), 1_000_000)
    store.insert_columns(ACTIVITY_TABLE, to_columns(result.rows), ACTIVITY_COLUMN_NAMES)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500_000)
