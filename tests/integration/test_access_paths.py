"""The access paths answer exactly what `activity` FINAL answers, for every key.

One record by id and a customer's Subscriptions page read the tables the
materialized views feed (`activity_by_event`, `activity_by_customer`). The
oracle is the plain read of `activity` FINAL by the same column. The store
holds 300k simulated rows in several parts, exact duplicates inserted on
purpose (a re-inserted batch), and customers whose ids two partners share.
A backfill (`schemas/migrate.py`) of a store that had rows before the views
existed, interrupted half-way and resumed, gives the same answers.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.store import Store
from query.reads.columns import DETAIL_COLUMNS, select_list
from query.reads.records import get_activity, json_or_text, present
from query.reads.scope import key_within_partner
from query.reads.subscriptions import LogEvent, customer_subscriptions, fold
from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_TABLE
from schemas.migrate import apply_migrations, open_migrated
from schemas.tables import BY_CUSTOMER_TABLE, BY_EVENT_TABLE, MIGRATIONS_TABLE
from tests.fixtures.datasets import fill_store

ROWS = 300_000
SEED_EVENTS = 20_000
SAMPLES = 120
ACCESS_PATHS = "0004_access_paths"
# A partner that shares customer ids with the simulated ones: its rows are copies
# of a slice of theirs under another partner id and new event ids.
TWIN = "ptn-twin"


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
    items = [sub.as_json() for sub in fold(events)]
    return {"customer_id": customer_id, "customer_name": name, "items": items}


def _copy(store: Store, replace: dict[str, str], where: str) -> None:
    """Insert copies of activity rows matching `where`, columns replaced by expressions."""
    columns = ", ".join(f"{replace.get(c, c)} AS {c}" for c in ACTIVITY_COLUMN_NAMES)
    store.command(
        f"INSERT INTO {ACTIVITY_TABLE} SELECT {columns} FROM {ACTIVITY_TABLE} WHERE {where}"  # noqa: S608
    )


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_migrated(f"chdb://{tmp_path_factory.mktemp('paths') / 'ch'}")
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


def test_the_access_paths_expire_with_activity(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'ch'}"
    for days in (400, 0):
        store = open_migrated(url, retention_days=days)
        try:
            engines = dict(
                store.query_rows(
                    "SELECT name, engine_full FROM system.tables "
                    "WHERE database = currentDatabase() AND name IN {t:Array(String)}",
                    {"t": [ACTIVITY_TABLE, BY_EVENT_TABLE, BY_CUSTOMER_TABLE]},
                )
            )
        finally:
            store.close()
        assert len(engines) == 3
        for table, engine in engines.items():
            assert ("toIntervalDay(400)" in engine) == (days == 400), table
            assert (" TTL " in engine) == (days == 400), table
