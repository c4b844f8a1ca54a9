"""A month of stored activity for the read-side benchmarks (query, page).

Simulates up to `SEED_EVENTS` events, normalizes and inserts them, then
multiplies them inside ClickHouse under new event ids until `rows` exist:
a million realistic rows in seconds rather than minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from activitylog.store import Store
from processors.batch import Consumed, process_batch, to_columns
from producers.simulate import SimulationSpec, simulate
from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_TABLE

SEED_EVENTS = 100_000
MONTH_END = datetime(2026, 11, 1, tzinfo=UTC)
INSERT_BATCH = 50_000


def fill_store(store: Store, rows: int, seed: int) -> None:
    """Insert `rows` activity rows over the 30 days before `MONTH_END`."""
    events = min(SEED_EVENTS, rows)
    spec = SimulationSpec(
        seed=seed, start=MONTH_END - timedelta(days=30), end=MONTH_END, events=events
    )
    messages = [
        Consumed(topic, 0, i, None, orjson.dumps(event))
        for i, (topic, event) in enumerate(simulate(spec))
    ]
    result = process_batch(messages, datetime.now(UTC), 10**7)
    for i in range(0, len(result.rows), INSERT_BATCH):
        chunk = result.rows[i : i + INSERT_BATCH]
        store.insert_columns(ACTIVITY_TABLE, to_columns(chunk), ACTIVITY_COLUMN_NAMES)
    copies = max(0, -(-rows // events) - 1)
    if copies:  # more rows than simulated: copies of them under new event ids
        columns = ", ".join(
            "concat(event_id, '-', toString(n.number)) AS event_id" if c == "event_id" else c
            for c in ACTIVITY_COLUMN_NAMES
        )
        store.command(
            f"INSERT INTO {ACTIVITY_TABLE} SELECT {columns} FROM {ACTIVITY_TABLE} "  # noqa: S608
            f"CROSS JOIN numbers(1, {copies}) AS n"
        )
