"""What stored texts save an export and cost an insert and a re-render, in CPU per row.

    .venv/bin/python -m tests.bench.bench_stored_texts [ROWS]

Builds a chDB store of ROWS rows (default 200,000; `tests/fixtures/datasets.py`)
and reads ClickHouse's own CPU counters (`system.events`
`UserTimeMicroseconds`, summed over the query's threads) around:

1. the CSV export query of every row in each language, reading the stored
   texts and rendering them in SQL (`query/exports/texts.py`), and the
   check that picks between them;
2. inserts of one normalized batch, repeated, into that store (the other
   languages' texts MATERIALIZED at insert) and into a store without those
   columns: what rendering them at insert costs;
3. the JSONL export in the process's own CPU time (Python renders the texts
   per row when it cannot read them stored), stored then stale;
4. `rerender` of every row after the texts were made stale: what
   `activitylog migrate` costs after a catalog edit (CPU and wall time).

CPU time is what a busy machine distorts least; wall times printed beside
it are only comparable on a quiet one. Prints figures; never fails on a number.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from common.store import Store
from processors.batch import Consumed, insert_columns, process_batch
from producers.simulate import SimulationSpec, simulate
from query.exports.csv import CSV_SETTINGS, csv_select
from query.exports.jsonl import stream_jsonl
from query.exports.texts import guarded, stored_current
from query.filters import ActivityFilter
from query.ranges import TimeRange
from query.reads.columns import export_query
from schemas.activity import ACTIVITY_TABLE
from schemas.migrate import open_migrated
from schemas.readable.catalogs import LANGUAGES
from schemas.rerender import rerender
from schemas.stored_texts import (
    MATERIALIZED_LANGUAGES,
    digest_column,
    text_columns,
)
from tests.fixtures.datasets import MONTH_END, fill_store

INSERT_BATCH = 20_000
INSERT_REPEATS = 5
EVERYTHING = ActivityFilter(
    range=TimeRange(datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC), "UTC")
)


def cpu_us(store: Store, action: Callable[[], Any]) -> tuple[int, float]:
    """(ClickHouse user CPU in µs, wall seconds) spent by `action`."""
    sql = "SELECT value FROM system.events WHERE event = 'UserTimeMicroseconds'"
    before = int(store.query_rows(sql)[0][0])
    started = time.perf_counter()
    action()
    wall = time.perf_counter() - started
    return int(store.query_rows(sql)[0][0]) - before, wall


def export_cpu(store: Store, lang: str, stored: bool, rows: int) -> None:
    where, params = guarded(stored, lang, *EVERYTHING.where())
    sql = export_query(
        csv_select(lang, stored=stored), where, CSV_SETTINGS, prewhere=EVERYTHING.key_where()
    )
    runs = [cpu_us(store, lambda: store.query_formatted(sql, params, "CSV")) for _ in range(3)]
    cpu = min(c for c, _ in runs)
    wall = min(w for _, w in runs)
    path = "stored" if stored else "SQL   "
    print(
        f"  export {lang} {path}: {cpu / rows:6.2f} µs CPU/row "
        f"(wall {rows / wall:,.0f} rows/s, busy-machine figure)"
    )


def jsonl_cpu(store: Store, rows: int) -> float:
    """The process's CPU per row (Python and the engine) of a JSONL export in every language."""
    started = time.process_time()
    for lang in LANGUAGES:
        for _ in stream_jsonl(store, EVERYTHING, lang):
            pass
    return (time.process_time() - started) / rows / len(LANGUAGES) * 1e6


def _batch(rows: int) -> tuple[list[list[Any]], tuple[str, ...]]:
    spec = SimulationSpec(
        seed=7, start=MONTH_END.replace(month=MONTH_END.month - 1), end=MONTH_END, events=rows
    )
    messages = [
        Consumed(topic, 0, i, None, orjson.dumps(event))
        for i, (topic, event) in enumerate(simulate(spec))
    ]
    return insert_columns(process_batch(messages, datetime.now(UTC), 10**7).rows)


def insert_cpu(store: Store, label: str) -> float:
    columns, names = _batch(INSERT_BATCH)
    total = 0
    for _ in range(INSERT_REPEATS):
        cpu, _ = cpu_us(store, lambda: store.insert_columns(ACTIVITY_TABLE, columns, names))
        total += cpu
    per_row = total / (INSERT_BATCH * INSERT_REPEATS)
    print(f"  insert {label}: {per_row:6.2f} µs CPU/row ({INSERT_REPEATS} x {INSERT_BATCH:,})")
    return per_row


def make_stale(store: Store) -> None:
    """Every row's texts as if written with another catalog (as a catalog edit leaves them)."""
    for lang in LANGUAGES:
        digest = digest_column(lang)
        if lang in MATERIALIZED_LANGUAGES:
            store.command(
                f"ALTER TABLE {ACTIVITY_TABLE} MODIFY COLUMN {digest} UInt64 MATERIALIZED 1"
            )
            store.command(
                f"ALTER TABLE {ACTIVITY_TABLE} MATERIALIZE COLUMN {digest} "
                "SETTINGS mutations_sync = 1"
            )
        else:
            store.command(
                f"ALTER TABLE {ACTIVITY_TABLE} UPDATE {digest} = 1 WHERE 1 "
                "SETTINGS mutations_sync = 1"
            )


def main(rows: int = 200_000) -> None:
    print(f"stored texts: {rows:,} rows (CPU from ClickHouse's counters)")
    with tempfile.TemporaryDirectory() as tmp:
        store = open_migrated(f"chdb://{Path(tmp) / 'a'}")
        try:
            fill_store(store, rows, seed=14)
            for lang in LANGUAGES:
                for stored in (True, False):
                    export_cpu(store, lang, stored, rows)
                check, _ = cpu_us(store, lambda code=lang: stored_current(store, EVERYTHING, code))
                print(f"  the stored-or-SQL check, {lang}: {check / rows:6.3f} µs CPU/row")
            with_texts = insert_cpu(store, "with the other languages' texts")
            rows = int(store.query_rows(f"SELECT count() FROM {ACTIVITY_TABLE}")[0][0])  # noqa: S608 - a constant
            stored_jsonl = jsonl_cpu(store, rows)
            make_stale(store)
            rendered_jsonl = jsonl_cpu(store, rows)
            print(
                f"  JSONL export (process CPU, every language): {stored_jsonl:6.2f} µs/row stored, "
                f"{rendered_jsonl:6.2f} rendered in Python"
            )
            cpu, wall = cpu_us(store, lambda: rerender(store))
            print(
                f"  re-render of {rows:,} rows in every language: {cpu / rows:6.2f} µs CPU/row, "
                f"{wall:.1f} s wall (busy-machine figure)"
            )
        finally:
            store.close()
        bare = open_migrated(f"chdb://{Path(tmp) / 'b'}")
        try:
            for lang in MATERIALIZED_LANGUAGES:
                drops = ", ".join(
                    f"DROP COLUMN {c}" for c in [*text_columns(lang).values(), digest_column(lang)]
                )
                bare.command(f"ALTER TABLE {ACTIVITY_TABLE} {drops}")
            without = insert_cpu(bare, "without them                   ")
        finally:
            bare.close()
    print(f"  rendering the other languages at insert: +{with_texts - without:.2f} µs CPU/row")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
