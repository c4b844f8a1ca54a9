"""The access paths answer exactly what `activity` FINAL answers, for every key.

One record by id and a customer's Subscriptions page read the tables the
materialized views feed (`activity_by_event`, `activity_by_customer`). The
oracle is the plain read of `activity` FINAL by the same column. The store
holds 300k simulated rows in several parts, exact duplicates inserted on
purpose (a re-inserted batch), and customers whose ids two partners share.
A backfill (`schemas/migrate.py`) of a store that had rows before the views
existed, interrupted half-way and resumed, gives the same answers. Child
processes killed -9 mid-stream and mid-backfill leave every table holding
exactly `activity`'s keys once the batches come again or the migration reruns.
"""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from common.store import Store, StoreBounds
from processors.batch import INSERT_COLUMN_NAMES
from query.filters import ActivityFilter
from query.ranges import resolve_range
from query.reads.columns import DETAIL_COLUMNS, LIST_COLUMNS, select_list
from query.reads.lifecycle import lifecycle
from query.reads.names import named_customers
from query.reads.pages import list_activity
from query.reads.records import get_activity, json_or_text, present
from query.reads.scope import key_within_partner
from query.reads.subscriptions import LogEvent, customer_subscriptions, fold, with_texts
from schemas.activity import ACTIVITY_TABLE
from schemas.migrate import apply_migrations, apply_retention, open_migrated
from schemas.tables import (
    BY_CORRELATION_TABLE,
    BY_CUSTOMER_TABLE,
    BY_EVENT_TABLE,
    MIGRATIONS_TABLE,
    NAMES_TABLE,
    RECORDS_TABLE,
)
from tests.fixtures.datasets import fill_store

ROOT = Path(__file__).resolve().parents[2]
ROWS = 300_000
SEED_EVENTS = 20_000
SAMPLES = 120
ACCESS_PATHS = "0004_access_paths"
# A partner that shares customer ids with the simulated ones: its rows are copies
# of a slice of theirs under another partner id and new event ids.
TWIN = "ptn-twin"
NEW_PATHS = (RECORDS_TABLE, BY_CORRELATION_TABLE)


def oracle_record(store: Store, event_id: str, partner_id: str | None) -> dict[str, Any] | None:
    where, params = key_within_partner("event_id", event_id, partner_id)
    sql = (
        f"SELECT {select_list(DETAIL_COLUMNS)} FROM {ACTIVITY_TABLE} FINAL "  # noqa: S608
        f"WHERE {where} LIMIT 1"
    )
    rows = store.query_dicts(sql, params)
    if not rows:
        return None
    item = present(rows[0])
    item["payload"] = json_or_text(rows[0]["payload"])
    return item


def oracle_subscriptions(
    store: Store, customer_id: str, partner_id: str | None
) -> dict[str, Any] | None:
    where, params = key_within_partner("customer_id", customer_id, partner_id)
    name_sql = (
        f"SELECT argMax(customer_name, occurred_at), count() FROM {ACTIVITY_TABLE} "  # noqa: S608
        f"WHERE {where}"
    )
    name, count = store.query_rows(name_sql, params)[0]
    if not count:
        return None
    events_sql = (
        "SELECT occurred_at, kind, action, status, resource_id, resource_name, order_id, "  # noqa: S608
        f"details FROM {ACTIVITY_TABLE} FINAL WHERE {where} AND "
        "((kind = 'order' AND status = 'completed') "
        "OR (startsWith(action, 'subscription.') AND status = 'succeeded')) "
        "ORDER BY occurred_at, event_id"
    )
    events = (LogEvent(*row) for row in store.query_rows(events_sql, params))
    items = [with_texts(sub.as_json(), "en") for sub in fold(events)]
    return {"customer_id": customer_id, "customer_name": name, "items": items}


def _copy(store: Store, replace: dict[str, str], where: str) -> None:
    """Insert copies of activity rows matching `where`, columns replaced by expressions."""
    columns = ", ".join(f"{replace.get(c, c)} AS {c}" for c in INSERT_COLUMN_NAMES)
    store.command(
        f"INSERT INTO {ACTIVITY_TABLE} SELECT {columns} FROM {ACTIVITY_TABLE} WHERE {where}"  # noqa: S608
    )


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    # fill_store multiplies rows with one INSERT ... CROSS JOIN that, feeding the
    # views too, needs more than a bounded query may hold at this size: no bounds.
    store = open_migrated(f"chdb://{tmp_path_factory.mktemp('paths') / 'ch'}", bounds=StoreBounds())
    try:
        fill_store(store, ROWS, seed=14, seed_events=SEED_EVENTS)
        # Another partner with the same customer ids (and names) as a tenth of the rows.
        _copy(
            store,
            {"partner_id": f"'{TWIN}'", "event_id": "concat(event_id, '-twin')"},
            "cityHash64(customer_id) % 10 = 0",
        )
        # A re-inserted batch: exact copies of a fifth of the rows, in parts of their own.
        _copy(store, {}, "cityHash64(event_id) % 5 = 0")
        yield store
    finally:
        store.close()


def _partners(store: Store) -> list[str]:
    rows = store.query_rows(f"SELECT DISTINCT partner_id FROM {ACTIVITY_TABLE}")  # noqa: S608
    return sorted(str(r[0]) for r in rows)


def _sample(store: Store, column: str, rnd: random.Random) -> list[tuple[str, str]]:
    """(value, its partner) for a random sample of `column`'s values, shared ones included."""
    rows = store.query_rows(
        f"SELECT {column}, any(partner_id) FROM {ACTIVITY_TABLE} GROUP BY {column}"  # noqa: S608
    )
    values = [(str(v), str(p)) for v, p in rows]
    return rnd.sample(values, min(SAMPLES, len(values)))


def _keys(partner: str, partners: list[str]) -> list[str | None]:
    """The owner's key, another partner's key and the all-partners key."""
    return [partner, next(p for p in partners if p != partner), None]


def test_the_store_has_parts_duplicates_and_shared_customers(big_store: Store) -> None:
    parts, rows = big_store.query_rows(
        "SELECT count(), sum(rows) FROM system.parts WHERE active AND table = {t:String}",
        {"t": ACTIVITY_TABLE},
    )[0]
    final = big_store.query_rows(f"SELECT count() FROM {ACTIVITY_TABLE} FINAL")[0][0]  # noqa: S608
    shared = big_store.query_rows(
        f"SELECT count() FROM (SELECT customer_id FROM {ACTIVITY_TABLE} "  # noqa: S608
        "WHERE customer_id != '' GROUP BY customer_id HAVING uniqExact(partner_id) > 1)"
    )[0][0]
    assert parts >= 3 and rows > final >= ROWS and shared >= 5


def test_one_record_by_id_is_exactly_the_oracle_for_every_key(big_store: Store) -> None:
    rnd = random.Random(1)
    partners = _partners(big_store)
    found = 0
    for event_id, partner in [*_sample(big_store, "event_id", rnd), ("no-such-id", partners[0])]:
        for key in _keys(partner, partners):
            expected = oracle_record(big_store, event_id, key)
            assert get_activity(big_store, event_id, key) == expected, (event_id, key)
            found += expected is not None
    assert found >= 2 * SAMPLES  # the owner's key and the all-partners key find each one


def test_one_record_is_the_copy_activity_final_keeps_when_copies_differ(big_store: Store) -> None:
    """A redelivered event whose audit columns differ (another offset, a later ingestion),
    in parts of its own, beside the events stored twice byte for byte: for every key the
    record is the very copy activity FINAL keeps, the last one inserted."""
    later = {"kafka_offset": "kafka_offset + 1000000", "ingested_at": "ingested_at + 7"}
    _copy(big_store, later, "cityHash64(event_id) % 50 = 3")
    stored_twice = big_store.query_rows(
        f"SELECT event_id, any(partner_id), max(kafka_offset), uniqExact(kafka_offset) > 1 "  # noqa: S608
        f"FROM {ACTIVITY_TABLE} GROUP BY event_id HAVING count() > 1"
    )
    rnd = random.Random(4)
    picked = rnd.sample(stored_twice, min(SAMPLES, len(stored_twice)))
    partners = _partners(big_store)
    differing = 0
    for event_id, partner, last_offset, differ in picked:
        for key in _keys(str(partner), partners):
            expected = oracle_record(big_store, str(event_id), key)
            assert get_activity(big_store, str(event_id), key) == expected, (event_id, key)
            if expected is not None:
                assert expected["kafka_offset"] == last_offset
        differing += bool(differ)
    assert SAMPLES // 10 <= differing < len(picked)  # both kinds of copies were read


def _selected(store: Store) -> tuple[int, int]:
    """Granules and rows this process's engine has selected to read so far (ProfileEvents)."""
    rows = dict(
        store.query_rows(
            "SELECT event, value FROM system.events "
            "WHERE event IN ('SelectedMarks', 'SelectedRows')"
        )
    )
    return int(rows.get("SelectedMarks", 0)), int(rows.get("SelectedRows", 0))


def test_an_expanded_row_reads_small_granules_not_activitys(big_store: Store) -> None:
    """The record selects at most a granule per part of activity_records; the lifecycle a
    granule per part of activity_by_correlation and about one per step; and those granules
    hold 1,024 rows (schemas/migrations/0009_records_by_event.sql), where activity's hold
    8,192 wide ones. Neither depends on how many rows activity holds."""
    parts = dict(
        big_store.query_rows(
            "SELECT table, count() FROM system.parts WHERE active "
            "AND database = currentDatabase() AND table IN {t:Array(String)} GROUP BY table",
            {"t": list(NEW_PATHS)},
        )
    )
    rnd = random.Random(5)
    longest = 0
    for event_id, partner in _sample(big_store, "event_id", rnd)[:30]:
        for key in (partner, None):
            marks, rows = _selected(big_store)
            item = get_activity(big_store, event_id, key)
            assert item is not None
            after = _selected(big_store)
            assert after[0] - marks <= parts[RECORDS_TABLE], event_id
            assert after[1] - rows <= 3 * 1024 * parts[RECORDS_TABLE], event_id
            marks, rows = after
            found = lifecycle(big_store, item)
            steps = len(found["steps"]) if found else 0
            longest = max(longest, steps)
            after = _selected(big_store)
            ranges = parts[BY_CORRELATION_TABLE] + parts[RECORDS_TABLE] + steps
            assert after[0] - marks <= ranges, event_id
            assert after[1] - rows <= 3 * 1024 * ranges, event_id
    assert longest > 10  # long lifecycles were read too


def test_subscriptions_are_exactly_the_oracle_for_every_key(big_store: Store) -> None:
    rnd = random.Random(2)
    partners = _partners(big_store)
    twin_customers = big_store.query_rows(
        f"SELECT DISTINCT customer_id, partner_id FROM {ACTIVITY_TABLE} "  # noqa: S608
        "WHERE partner_id = {p:String} LIMIT 20",
        {"p": TWIN},
    )
    samples = [
        *_sample(big_store, "customer_id", rnd),
        *((str(c), str(p)) for c, p in twin_customers),
    ]
    with_items = 0
    for customer_id, partner in [*samples, ("no-such-customer", partners[0])]:
        for key in _keys(partner, partners):
            expected = oracle_subscriptions(big_store, customer_id, key)
            assert customer_subscriptions(big_store, customer_id, key) == expected, (
                customer_id,
                key,
            )
            with_items += bool(expected and expected["items"])
    assert with_items > len(samples) // 2


def oracle_page(store: Store, flt: ActivityFilter) -> list[dict[str, Any]]:
    """The first page as `activity` FINAL answers it, in the page's order."""
    where, params = flt.where()
    rows = store.query_dicts(
        f"SELECT {select_list(LIST_COLUMNS)} FROM {ACTIVITY_TABLE} FINAL "  # noqa: S608
        f"WHERE {where} ORDER BY occurred_at DESC, event_id DESC LIMIT 101",
        params,
    )
    return [present(row, "en") for row in rows]


def test_a_page_filtered_by_name_is_exactly_the_oracle_for_every_key(big_store: Store) -> None:
    """The names path (query/reads/names.py) against `activity` FINAL: random parts of
    names, whole names, a name two partners share, with other filters and a cursor."""
    rnd = random.Random(3)
    partners = _partners(big_store)
    everything = resolve_range("2000-01-01", "2100-01-01", None, datetime.now(UTC))
    year = resolve_range("2026-01-01", "2026-12-31", None, datetime.now(UTC))
    names = _sample(big_store, "customer_name", rnd)[:40]
    twin = big_store.query_rows(
        f"SELECT any(customer_name) FROM {ACTIVITY_TABLE} WHERE partner_id = {{p:String}}",  # noqa: S608
        {"p": TWIN},
    )[0][0]
    texts = [(twin, TWIN), ("no such name", partners[0])]
    for name, partner in names:
        start = rnd.randrange(max(1, len(name) - 3))
        texts += [(name, partner), (name[start : start + rnd.randint(3, 8)].upper(), partner)]
    used, paged = 0, 0
    for text, partner in texts:
        for key in _keys(partner, partners):
            for range_, extra in ((everything, {}), (year, {"status": "succeeded"})):
                flt = ActivityFilter(range=range_, partner_id=key, customer=text, **extra)
                used += named_customers(big_store, flt) is not None
                page = list_activity(big_store, flt, limit=100)
                expected = oracle_page(big_store, flt)
                assert page.items == expected[:100], (text, key, extra)
                if page.next_cursor:
                    paged += 1
                    second = list_activity(big_store, flt, limit=100, cursor=page.next_cursor)
                    assert second.items[:1] == expected[100:101]
    assert used > len(texts) and paged >= 1


def test_an_interrupted_backfill_resumes_with_nothing_lost_or_doubled(
    big_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A store upgraded with rows in it: the views and their tables are built from activity.

    When the backfill stopped, one table's first month was copied and recorded, and
    the other's second month half copied, unrecorded; the resumed migration copies
    the rest, and what was copied twice collapses.
    """
    for view in ("activity_by_event_mv", "activity_by_customer_mv"):
        big_store.command(f"DROP VIEW {view}")
    for table in (BY_EVENT_TABLE, BY_CUSTOMER_TABLE):
        big_store.command(f"TRUNCATE TABLE {table}")
    big_store.command(
        f"ALTER TABLE {MIGRATIONS_TABLE} DELETE WHERE startsWith(version, {{v:String}})",
        {"v": ACCESS_PATHS},
    )
    first = big_store.query_rows(
        f"SELECT min(toYYYYMM(occurred_at)) FROM {ACTIVITY_TABLE}"  # noqa: S608
    )[0][0]
    big_store.command(
        f"INSERT INTO {BY_EVENT_TABLE} SELECT event_id, partner_id, occurred_at "  # noqa: S608
        f"FROM {ACTIVITY_TABLE} WHERE toYYYYMM(occurred_at) = {{m:UInt32}}",
        {"m": first},
    )
    big_store.command(
        f"INSERT INTO {MIGRATIONS_TABLE} VALUES ({{v:String}}, now64(3))",  # noqa: S608
        {"v": f"{ACCESS_PATHS}/{BY_EVENT_TABLE}/{first}"},
    )
    big_store.command(
        f"INSERT INTO {BY_CUSTOMER_TABLE} SELECT customer_id, partner_id, occurred_at, "  # noqa: S608
        "event_id, customer_name, kind, action, status, resource_id, resource_name, order_id, "
        f"details FROM {ACTIVITY_TABLE} WHERE toYYYYMM(occurred_at) > {{m:UInt32}} "
        "AND cityHash64(event_id) % 2 = 0",
        {"m": first},
    )
    with caplog.at_level(logging.INFO, logger="schemas.migrate"):
        assert apply_migrations(big_store) == [ACCESS_PATHS]
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("backfill")]
    assert any(f"backfill {BY_CUSTOMER_TABLE}: month {first} (1/" in m for m in progress)
    assert "(100%)" in progress[-1]

    for table in (BY_EVENT_TABLE, BY_CUSTOMER_TABLE):
        missing = big_store.query_rows(
            f"SELECT count() FROM {ACTIVITY_TABLE} WHERE (partner_id, occurred_at, event_id) "  # noqa: S608
            f"NOT IN (SELECT partner_id, occurred_at, event_id FROM {table})"
        )[0][0]
        copies = big_store.query_rows(
            f"SELECT count() FROM {table} FINAL"  # noqa: S608
        )[0][0]
        distinct = big_store.query_rows(
            f"SELECT count() FROM {ACTIVITY_TABLE} FINAL"  # noqa: S608
        )[0][0]
        assert (missing, copies) == (0, distinct), table
    rnd = random.Random(3)
    partners = _partners(big_store)
    for event_id, partner in _sample(big_store, "event_id", rnd)[:30]:
        for key in _keys(partner, partners):
            assert get_activity(big_store, event_id, key) == oracle_record(big_store, event_id, key)
    for customer_id, partner in _sample(big_store, "customer_id", rnd)[:30]:
        for key in _keys(partner, partners):
            assert customer_subscriptions(big_store, customer_id, key) == oracle_subscriptions(
                big_store, customer_id, key
            )


def test_the_access_paths_expire_with_activity(big_store: Store) -> None:
    for days in (400, 0):
        apply_retention(big_store, days)
        engines = dict(
            big_store.query_rows(
                "SELECT name, engine_full FROM system.tables "
                "WHERE database = currentDatabase() AND name IN {t:Array(String)}",
                {"t": [ACTIVITY_TABLE, BY_EVENT_TABLE, BY_CUSTOMER_TABLE, *NEW_PATHS, NAMES_TABLE]},
            )
        )
        assert len(engines) == 6
        for table, engine in engines.items():
            assert ("toIntervalDay(400)" in engine) == (days == 400), table
            assert (" TTL " in engine) == (days == 400), table


# A child process that owns its own chDB store (one engine per process): it
# inserts batches the way the worker does, or runs the migrations, and reports
# each step on stdout so the test can kill it -9 at a known point.
_CHILD = """
import logging, sys
from common.store import Store, StoreBounds
from schemas.migrate import apply_migrations, apply_retention, open_migrated

ROWS_SQL = '''
INSERT INTO activity (partner_id, occurred_at, event_id, kind, action, customer_id,
    customer_name, status, resource_id, details, payload)
SELECT concat('ptn-', toString(n % 3)),
    toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(intDiv(n * 86400 * 30, 40000)),
    concat('ev-', toString(n)), if(n % 4 = 0, 'order', 'partner_action'),
    if(n % 4 = 0, 'order.placed', 'subscription.suspend'),
    concat('cus-', toString(n % 500)), concat('Name ', toString(n % 500)),
    if(n % 4 = 0, 'completed', 'succeeded'), concat('sub-', toString(n % 7)),
    concat('{"line_items":[{"subscription_id":"sub-', toString(n % 7), '","quantity":2}]}'),
    repeat('x', 300)
FROM (SELECT number AS n FROM numbers({start:UInt64}, {count:UInt64}))
'''
mode, path, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
store = open_migrated("chdb://" + path) if mode != "reopen" else Store.open("chdb://" + path)
if mode == "insert":
    for batch in range(batches):
        store.command(ROWS_SQL, parameters={"start": batch * 20000, "count": 20000})
        print("inserted", batch, flush=True)
elif mode == "unmigrate":
    for view in ("activity_by_event_mv", "activity_by_customer_mv", "activity_records_mv",
                 "activity_by_correlation_mv"):
        store.command("DROP VIEW " + view)
    for table in ("activity_by_event", "activity_by_customer", "activity_records",
                  "activity_by_correlation"):
        store.command("TRUNCATE TABLE " + table)
    store.command("ALTER TABLE schema_migrations DELETE WHERE startsWith(version, '0004') "
                  "OR startsWith(version, '0009') SETTINGS mutations_sync = 1")
elif mode == "reopen":
    apply_migrations(store)
elif mode == "check":
    for table in ("activity", "activity_by_event", "activity_by_customer", "activity_records",
                  "activity_by_correlation"):
        keys = store.query_rows("SELECT count(), sum(cityHash64(partner_id, occurred_at, "
                                "event_id)) FROM " + table + " FINAL")[0]
        print(table, keys[0], keys[1], flush=True)
print("done", flush=True)
"""


def _child(mode: str, path: Path, batches: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, mode, str(path), str(batches)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _kill_after(child: subprocess.Popen[str], prefix: str, deadline_s: float = 300.0) -> None:
    """SIGKILL `child` as soon as it prints a line starting with `prefix`."""
    assert child.stdout is not None
    deadline = time.monotonic() + deadline_s
    for line in child.stdout:
        if line.startswith(prefix):
            child.send_signal(signal.SIGKILL)
            break
        assert time.monotonic() < deadline, f"no {prefix!r} line in time"
    assert child.wait(timeout=deadline_s) == -signal.SIGKILL, f"killed before {prefix!r}?"


def _finish(child: subprocess.Popen[str]) -> list[str]:
    out, _ = child.communicate(timeout=600)
    assert child.returncode == 0 and out.rstrip().endswith("done"), out
    return out.splitlines()


def _agreement(path: Path) -> dict[str, tuple[int, int]]:
    """Rows and a checksum of their keys, per table, under FINAL."""
    lines = _finish(_child("check", path))
    return {name: (int(n), int(h)) for name, n, h in (line.split() for line in lines[:-1])}


def test_kill_9_mid_stream_then_the_redelivery_leaves_every_path_agreeing(
    tmp_path: Path,
) -> None:
    """The worker's story: killed mid-stream, the unacknowledged batches come again."""
    path = tmp_path / "ch"
    _kill_after(_child("insert", path, 12), "inserted 3")
    _finish(_child("insert", path, 12))  # every batch again: a superset of the redelivery
    tables = _agreement(path)
    assert tables["activity"] == (12 * 20000, tables["activity"][1])
    assert tables["activity_by_event"] == tables["activity"]
    assert tables["activity_by_customer"] == tables["activity"]
    assert tables["activity_records"] == tables["activity"]
    assert tables["activity_by_correlation"] == tables["activity"]


def test_kill_9_mid_backfill_resumes_with_nothing_lost_or_doubled(tmp_path: Path) -> None:
    path = tmp_path / "ch"
    _finish(_child("insert", path, 12))
    _finish(_child("unmigrate", path))
    _kill_after(_child("reopen", path), "backfill activity_by_event: month")
    resumed = _finish(_child("reopen", path))
    assert any(line.startswith("backfill activity_by_customer: month") for line in resumed)
    assert any(line.startswith("backfill activity_records: month") for line in resumed)
    assert any(line.startswith("backfill activity_by_correlation: month") for line in resumed)
    tables = _agreement(path)
    assert tables["activity_by_event"] == tables["activity"] == (12 * 20000, tables["activity"][1])
    assert tables["activity_by_customer"] == tables["activity"]
    assert tables["activity_records"] == tables["activity"]
    assert tables["activity_by_correlation"] == tables["activity"]
