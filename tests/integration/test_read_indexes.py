"""The skip indexes of migration 0005 (customer name, correlation id) skip granules and
change no answer.

Real chDB store: simulated rows (lifecycles share correlation ids) written before
the indexes exist, then migration 0005 applied again, as an existing store is
upgraded; a rare customer name in a few rows; a share of the rows re-inserted
as duplicates. The oracles are the reads without the indexes' help: the name
filter's own `positionCaseInsensitiveUTF8` and the lifecycle's plain FINAL read.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from common.store import Store
from processors.batch import INSERT_COLUMN_NAMES
from query.filters import ActivityFilter, name_index_run
from query.ranges import TimeRange
from query.reads.lifecycle import MAX_STEPS, STEP_COLUMNS, lifecycle, lifecycle_steps
from query.reads.records import get_activity
from query.reads.slices import count_activity
from schemas.activity import ACTIVITY_TABLE
from schemas.migrate import apply_migrations
from schemas.tables import MIGRATIONS_TABLE
from tests.fixtures.datasets import MONTH_END, fill_store

READ_INDEXES = "0005_read_indexes"
INDEXES = ("idx_customer_name_ngrams", "idx_correlation_id")
RARE = "Zyxwv Quokka GmbH"
MUTATIONS_TIMEOUT = 120.0
MONTH = TimeRange(start=MONTH_END - timedelta(days=31), end=MONTH_END, tz="UTC")


def _wait_for_mutations(store: Store) -> None:
    deadline = time.monotonic() + MUTATIONS_TIMEOUT
    while store.query_rows(
        "SELECT count() FROM system.mutations WHERE database = currentDatabase() "
        "AND table = {t:String} AND NOT is_done",
        {"t": ACTIVITY_TABLE},
    )[0][0]:
        assert time.monotonic() < deadline, "the index mutations did not finish"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def upgraded(store: Store) -> Iterator[Store]:
    """The module store as a store written before migration 0005, then upgraded."""
    for index in INDEXES:
        store.command(f"ALTER TABLE {ACTIVITY_TABLE} DROP INDEX IF EXISTS {index}")
    store.command(
        f"DELETE FROM {MIGRATIONS_TABLE} WHERE version = {{v:String}}",  # noqa: S608
        {"v": READ_INDEXES},
    )
    fill_store(store, 60_000, seed=14, seed_events=30_000)
    partner = store.query_rows(
        f"SELECT partner_id FROM {ACTIVITY_TABLE} GROUP BY partner_id "  # noqa: S608
        "ORDER BY count() DESC LIMIT 1"
    )[0][0]
    columns = ", ".join(
        {
            "event_id": "concat('rare-', event_id)",
            "customer_name": "{rare:String}",
            "correlation_id": "concat('rare-', correlation_id)",
        }.get(c, c)
        for c in INSERT_COLUMN_NAMES
    )
    store.command(
        f"INSERT INTO {ACTIVITY_TABLE} SELECT {columns} FROM {ACTIVITY_TABLE} "  # noqa: S608
        "WHERE partner_id = {p:String} ORDER BY sipHash64(event_id) LIMIT 3",
        {"rare": RARE, "p": partner},
    )
    # Redeliveries: a share of the rows again, in a part of their own.
    store.command(
        f"INSERT INTO {ACTIVITY_TABLE} SELECT * FROM {ACTIVITY_TABLE} "  # noqa: S608
        "WHERE sipHash64(event_id) % 10 = 0"
    )
    assert apply_migrations(store) == [READ_INDEXES]
    _wait_for_mutations(store)
    yield store


def _granules(store: Store, flt: ActivityFilter, index: str) -> tuple[int, int]:
    """(kept, of) granules the `index` step of the filter's read keeps."""
    where, params = flt.where()
    plan = "\n".join(
        row[0]
        for row in store.query_rows(
            f"EXPLAIN indexes = 1 SELECT count() FROM {ACTIVITY_TABLE} WHERE {where}",  # noqa: S608
            params,
        )
    )
    after = plan[plan.index(f"Name: {index}") :]
    kept, of = after[after.index("Granules: ") + len("Granules: ") :].split()[0].split("/")
    return int(kept), int(of)


def test_the_indexes_exist_for_the_parts_written_before_them(upgraded: Store) -> None:
    rows = upgraded.query_rows(
        "SELECT name, data_compressed_bytes FROM system.data_skipping_indices "
        "WHERE database = currentDatabase() AND table = {t:String}",
        {"t": ACTIVITY_TABLE},
    )
    sizes = dict(rows)
    assert all(sizes.get(index, 0) > 0 for index in INDEXES)
    rare = ActivityFilter(range=MONTH, customer="quokka")
    kept, of = _granules(upgraded, rare, "idx_customer_name_ngrams")
    assert of >= 8 and kept <= 3, (kept, of)
    common_name = upgraded.query_rows(
        f"SELECT customer_name FROM {ACTIVITY_TABLE} GROUP BY customer_name "  # noqa: S608
        "ORDER BY count() DESC LIMIT 1"
    )[0][0]
    assert _granules(upgraded, ActivityFilter(range=MONTH, customer=common_name), INDEXES[0])[0]


def test_migrating_again_changes_nothing(upgraded: Store) -> None:
    assert apply_migrations(upgraded) == []


def _oracle_count(store: Store, flt: ActivityFilter) -> int:
    plain = ActivityFilter(range=flt.range, partner_id=flt.partner_id)
    where, params = plain.where()
    sql = (
        f"SELECT count() FROM {ACTIVITY_TABLE} FINAL WHERE {where} "  # noqa: S608
        "AND positionCaseInsensitiveUTF8(customer_name, {needle:String}) > 0"
    )
    return int(store.query_rows(sql, params | {"needle": flt.customer})[0][0])


def test_the_name_filter_answers_as_without_the_index(upgraded: Store) -> None:
    names = [
        row[0]
        for row in upgraded.query_rows(
            f"SELECT DISTINCT customer_name FROM {ACTIVITY_TABLE} "  # noqa: S608
            "ORDER BY sipHash64(customer_name) LIMIT 15"
        )
    ]
    pieces = {"quokka", "QUOKKA gmbh", "zy", "e", "ä", "Kelvin \u212a"}
    for name in names:
        pieces |= {name, name.upper(), name[1:-1].lower(), name[: len(name) // 2]}
    for piece in sorted(pieces):
        flt = ActivityFilter(range=MONTH, customer=piece)
        assert count_activity(upgraded, flt) == _oracle_count(upgraded, flt), piece
    assert _oracle_count(upgraded, ActivityFilter(range=MONTH, customer="quokka")) == 3


def test_the_index_condition_keeps_every_row_the_filter_keeps_for_every_character(
    upgraded: Store,
) -> None:
    """`name_index_run`'s premise, over every Unicode code point and ASCII letter (other
    ASCII characters have no case): where the case-insensitive search matches, the
    lowered name holds the lowered run."""
    missed = upgraded.query_rows(
        "SELECT count() FROM (SELECT "
        "arrayJoin(arrayMap(x -> char(x), arrayConcat(range(65, 91), range(97, 123)))) AS needle, "
        "if(number < 128, char(number), if(number < 2048, "
        "char(192 + intDiv(number, 64), 128 + number % 64), if(number < 65536, "
        "char(224 + intDiv(number, 4096), 128 + intDiv(number, 64) % 64, 128 + number % 64), "
        "char(240 + intDiv(number, 262144), 128 + intDiv(number, 4096) % 64, "
        "128 + intDiv(number, 64) % 64, 128 + number % 64)))) AS letter "
        "FROM numbers(1, 1114111) WHERE number < 55296 OR number > 57343) "
        "WHERE positionCaseInsensitiveUTF8(concat('a', letter, 'a'), concat('a', needle, 'a')) > 0 "
        "AND position(lowerUTF8(concat('a', letter, 'a')), lower(concat('a', needle, 'a'))) = 0"
    )[0][0]
    assert missed == 0
    assert name_index_run("Småföretag AB") == "retag ab"
    assert name_index_run("äöü") is None and name_index_run("ab") is None


def _oracle_lifecycle(store: Store, item: dict[str, Any]) -> dict[str, Any] | None:
    if not item["correlation_id"]:
        return None
    at = datetime.fromisoformat(item["occurred_at"].replace("Z", "+00:00"))
    sql = (
        f"SELECT {', '.join(STEP_COLUMNS)} FROM {ACTIVITY_TABLE} FINAL "  # noqa: S608
        "WHERE partner_id = {p:String} AND correlation_id = {c:String} "
        "AND occurred_at >= {at:DateTime64(3, 'UTC')} - INTERVAL 31 DAY "
        "AND occurred_at < {at:DateTime64(3, 'UTC')} + INTERVAL 31 DAY "
        f"ORDER BY occurred_at, event_id LIMIT {MAX_STEPS + 1}"
    )
    params = {"p": item["partner_id"], "c": item["correlation_id"], "at": at}
    rows = store.query_dicts(sql, params)
    return lifecycle_steps(str(item["correlation_id"]), rows, str(item["event_id"]))


def test_the_lifecycle_answers_as_the_plain_final_read(upgraded: Store) -> None:
    picked = upgraded.query_rows(
        f"SELECT event_id FROM {ACTIVITY_TABLE} WHERE correlation_id IN ("  # noqa: S608
        f"SELECT correlation_id FROM {ACTIVITY_TABLE} WHERE correlation_id != '' "
        "GROUP BY correlation_id HAVING uniqExact(event_id) > 1) "
        "ORDER BY sipHash64(event_id) LIMIT 40"
    )
    ids = [row[0] for row in picked]
    ids += random.Random(14).sample(
        [row[0] for row in upgraded.query_rows(f"SELECT event_id FROM {ACTIVITY_TABLE}")],  # noqa: S608
        20,
    )
    longest = 0
    for event_id in ids:
        item = get_activity(upgraded, event_id, None)
        assert item is not None
        found = lifecycle(upgraded, item)
        assert found == _oracle_lifecycle(upgraded, item), event_id
        if found is not None:
            longest = max(longest, len(found["steps"]))
    assert longest > 1  # some lifecycles have several steps
