"""What one record by event id (the expanded row) costs the store, query by query.

    .venv/bin/python -m tests.bench.record_read DIR [--samples N] [--seed N]

DIR is a store made by `tests.bench.scale_store generate` (or kept by
`make bench-scale`, `--keep DIR`: its `clickhouse` directory). For event ids of
the biggest partner, and for every event stored twice, it runs what
`GET /api/v1/activity/{event_id}` runs (the record, its lifecycle, its changes),
with the partner's key and the all-partners key, and prints each query the
request sends, in order, with the engine's own counters for it (ProfileEvents,
from `system.events`: parts, marks and rows selected, compressed bytes read,
bytes decompressed), which do not depend on how busy the machine is, beside
its median time, which does. The rest of the request's time is Python's.
Not part of `make test` or `make bench`; the HTTP figure is `make bench-scale`'s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from common.settings import Settings
from common.store import Store
from query.reads.lifecycle import diff_changes, lifecycle
from query.reads.records import get_activity
from schemas.activity import ACTIVITY_TABLE
from schemas.migrate import migrated_store

# The engine's counters a read's cost shows in (ClickHouse ProfileEvents).
EVENTS: Final = (
    "SelectedParts",
    "SelectedMarks",
    "SelectedRows",
    "ReadCompressedBytes",
    "CompressedReadBufferBytes",
)
SHORT: Final = {
    "SelectedParts": "parts",
    "SelectedMarks": "marks",
    "SelectedRows": "rows",
    "ReadCompressedBytes": "read B",
    "CompressedReadBufferBytes": "decompressed B",
}


@dataclass
class QueryCost:
    """One query of the request: its text's start, times, and counters (per run)."""

    label: str
    millis: list[float] = field(default_factory=list)
    counters: list[dict[str, int]] = field(default_factory=list)


class RecordingStore:
    """A `Store` that records the time and the engine counters of every query it runs."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.location = store.location
        self.calls: list[tuple[str, float, dict[str, int]]] = []
        self.counting_ms = 0.0  # spent reading the counters: not the request's time

    def _events(self) -> dict[str, int]:
        rows = self._store.query_rows(
            "SELECT event, value FROM system.events WHERE event IN {names:Array(String)}",
            {"names": list(EVENTS)},
        )
        found = {str(name): int(value) for name, value in rows}
        return {name: found.get(name, 0) for name in EVENTS}

    def _recorded(self, run: Any, sql: str, parameters: dict[str, Any] | None) -> Any:
        counting = time.perf_counter()
        before = self._events()
        started = time.perf_counter()
        result = run(sql, parameters)
        ended = time.perf_counter()
        after = self._events()
        took = (ended - started) * 1000
        self.counting_ms += (started - counting + time.perf_counter() - ended) * 1000
        self.calls.append((sql, took, {k: after[k] - before[k] for k in EVENTS}))
        return result

    def query_dicts(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self._recorded(self._store.query_dicts, sql, parameters)

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self._recorded(self._store.query_rows, sql, parameters)


def _request(store: Any, event_id: str, partner_id: str | None) -> dict[str, Any] | None:
    """What the route does for one record (query/http/routes/activity.py)."""
    item = get_activity(store, event_id, partner_id)
    if item is None:
        return None
    item["lifecycle"] = lifecycle(store, item)
    item["changes"] = diff_changes(item.get("details"))
    return item


def _pick(store: Store, samples: int, seed: int) -> tuple[str, list[str]]:
    partner = str(
        store.query_rows(
            f"SELECT partner_id FROM {ACTIVITY_TABLE} "  # noqa: S608
            "GROUP BY partner_id ORDER BY count() DESC LIMIT 1"
        )[0][0]
    )
    ids = [
        str(row[0])
        for row in store.query_rows(
            f"SELECT event_id FROM {ACTIVITY_TABLE} WHERE partner_id = {{p:String}} "  # noqa: S608
            "ORDER BY sipHash64(event_id, {seed:UInt64}) LIMIT {n:UInt64}",
            {"p": partner, "seed": seed, "n": samples},
        )
    ]
    twice = [
        str(row[0])
        for row in store.query_rows(
            f"SELECT event_id FROM {ACTIVITY_TABLE} WHERE partner_id = {{p:String}} "  # noqa: S608
            "GROUP BY event_id HAVING count() > 1 LIMIT {n:UInt64}",
            {"p": partner, "n": max(1, samples // 4)},
        )
    ]
    return partner, list(dict.fromkeys(ids + twice))


def measure(store: Store, ids: list[str], partner_id: str | None) -> tuple[list[QueryCost], float]:
    """Per query of the request (in order): its costs; and the median request time (ms)."""
    costs: list[QueryCost] = []
    totals: list[float] = []
    recording = RecordingStore(store)
    for event_id in ids[:3]:  # warm-up: the engine's mark cache, Python's imports
        _request(recording, event_id, partner_id)
    for event_id in ids:
        recording.calls.clear()
        recording.counting_ms = 0.0
        started = time.perf_counter()
        if _request(recording, event_id, partner_id) is None:
            raise RuntimeError(f"{event_id} not found")
        totals.append((time.perf_counter() - started) * 1000 - recording.counting_ms)
        for n, (sql, took, counters) in enumerate(recording.calls):
            if n == len(costs):
                costs.append(QueryCost(" ".join(sql.split())[:70]))
            costs[n].millis.append(took)
            costs[n].counters.append(counters)
    return costs, statistics.median(totals)


def report(title: str, costs: list[QueryCost], total: float) -> None:
    print(f"\n{title}: up to {len(costs)} queries per request, median request {total:.1f} ms")
    heads = "".join(f"{SHORT[e]:>16}" for e in EVENTS)
    print(f"  {'#':2} {'median ms':>9}{heads}  query")
    spent = 0.0
    for n, cost in enumerate(costs, start=1):
        ms = statistics.median(cost.millis)
        spent += ms
        cells = "".join(f"{statistics.median(c[e] for c in cost.counters):>16,.0f}" for e in EVENTS)
        print(f"  {n:<2} {ms:>9.1f}{cells}  {cost.label}")
    print(f"  Python (rendering, JSON, the changes): {max(0.0, total - spent):.1f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.record_read")
    parser.add_argument("store", type=Path, help="a store made by tests.bench.scale_store")
    parser.add_argument("--samples", type=int, default=40, help="event ids to read")
    parser.add_argument("--seed", type=int, default=7, help="which ids")
    args = parser.parse_args(argv)
    store = migrated_store(Settings(clickhouse_url=f"chdb://{args.store.resolve()}"))
    # Background merges would read parts too, and their reads count in the same counters;
    # the store keeps the parts it was measured with.
    store.command("SYSTEM STOP MERGES")
    parts = store.query_rows(
        "SELECT count() FROM system.parts WHERE database = currentDatabase() "
        "AND table = {t:String} AND active",
        {"t": ACTIVITY_TABLE},
    )[0][0]
    partner, ids = _pick(store, args.samples, args.seed)
    print(f"{len(ids)} event ids of {partner} (events stored twice among them); {parts} parts")
    for title, key in (("partner key", partner), ("all-partners key", None)):
        costs, total = measure(store, ids, key)
        report(title, costs, total)
    store.close()


if __name__ == "__main__":
    main()
