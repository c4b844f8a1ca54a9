"""An export reads its key range with PREWHERE before FINAL and still shows nothing twice.

Real chDB store with merges stopped: one partner's events over three monthly
partitions, inserted in several inserts (several parts per partition), with
neighbouring partners in the same parts (so the edges of its key range hold
other partners' rows), then a share of its events inserted again in separate
inserts, as redeliveries (another Kafka offset) and as a re-inserted batch
(the same rows). The export must hold every event once, and its bytes must be
those of the same query without PREWHERE.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest

from common.store import Store
from processors.batch import to_columns
from processors.normalize import KafkaMeta, normalize
from query.exports.csv import CSV_SETTINGS, csv_chunks, csv_select, header_bytes, stream_csv
from query.exports.jsonl import stream_jsonl
from query.filters import ActivityFilter
from query.ranges import resolve_range
from query.reads.columns import export_query
from query.reads.slices import count_activity
from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_TABLE
from schemas.events import validate_event
from schemas.topics import PARTNER_ACTIONS_TOPIC
from tests.fixtures.activity import NOW, eid
from tests.fixtures.events import valid_partner_action
from tests.fixtures.exports import iter_export_rows

PARTNER = "ptn-dup"
NEIGHBOURS = ("ptn-dun", "ptn-duq")  # sort just before and just after PARTNER
EVENTS = 3_000
INSERTS = 4
DAYS = 90  # 2026-08-23 .. 2026-11-20: three monthly partitions and a bit


def _event(name: str, partner: str, i: int) -> dict[str, Any]:
    minute = (i * 43) % (DAYS * 24 * 60)
    day, rest = divmod(minute, 24 * 60)
    return valid_partner_action(
        event_id=eid(f"{name}-{i}"),
        occurred_at=_at(day, rest),
        partner_id=partner,
        customer_id=f"cust-{i % 97}",
        customer_name=f'Kunde {i % 97}, "Zweig" {i % 7}',
        partner_user=f"user{i % 13}@partner.example",
    )


def _at(day: int, minute: int) -> str:
    instant = NOW.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        days=day - DAYS, minutes=minute
    )
    return instant.isoformat().replace("+00:00", "Z")


def _insert(store: Store, events: list[dict[str, Any]], first_offset: int) -> None:
    """One columnar insert, as the worker does it, at Kafka offsets from `first_offset`."""
    rows = []
    for offset, event in enumerate(events, start=first_offset):
        raw = orjson.dumps(event)
        model = validate_event(PARTNER_ACTIONS_TOPIC, raw, lenient_enums=True)
        rows.append(normalize(model, raw, KafkaMeta(PARTNER_ACTIONS_TOPIC, 0, offset), NOW))
    store.insert_columns(ACTIVITY_TABLE, to_columns(rows), ACTIVITY_COLUMN_NAMES)


@pytest.fixture(scope="module")
def dup_store(store: Store) -> Iterator[Store]:
    store.command(f"SYSTEM STOP MERGES {ACTIVITY_TABLE}")
    try:
        ours = [_event("dup", PARTNER, i) for i in range(EVENTS)]
        theirs = [_event(n, n, i) for n in NEIGHBOURS for i in range(EVENTS // 2)]
        # Each insert holds a time slice of every partner, as the worker's batches do.
        by_time = sorted(ours + theirs, key=lambda e: str(e["occurred_at"]))
        size = -(-len(by_time) // INSERTS)
        for n, first in enumerate(range(0, len(by_time), size)):
            _insert(store, by_time[first : first + size], n * size)
        picked = random.Random(14).sample(ours, EVENTS // 5)
        _insert(store, picked[: EVENTS // 10], 10 * EVENTS)  # redelivered: another offset
        _insert(store, picked[: EVENTS // 10], 10 * EVENTS)  # the same batch, again
        _insert(store, picked[EVENTS // 10 :], 20 * EVENTS)
        yield store
    finally:
        store.command(f"SYSTEM START MERGES {ACTIVITY_TABLE}")


def _year(partner: str | None) -> ActivityFilter:
    return ActivityFilter(
        range=resolve_range("2025-12-01", "2026-11-30", None, NOW), partner_id=partner
    )


def test_copies_of_an_event_never_span_partitions(dup_store: Store) -> None:
    """What `do_not_merge_across_partitions_select_final` needs (query/reads/columns.py):
    the partition is a function of a sort-key column, so rows with one key share one."""
    sorting, partition = dup_store.query_rows(
        "SELECT sorting_key, partition_key FROM system.tables "
        "WHERE database = currentDatabase() AND name = {t:String}",
        {"t": ACTIVITY_TABLE},
    )[0]
    assert sorting == "partner_id, occurred_at, event_id"
    assert partition == "toYYYYMM(occurred_at)"


def test_the_events_sit_in_several_parts_per_partition_with_copies(dup_store: Store) -> None:
    parts = dup_store.query_rows(
        "SELECT partition, count() FROM system.parts WHERE database = currentDatabase() "
        "AND table = {t:String} AND active GROUP BY partition",
        {"t": ACTIVITY_TABLE},
    )
    assert len(parts) >= 3 and all(count >= 2 for _, count in parts)
    stored, distinct = dup_store.query_rows(
        f"SELECT count(), uniqExact(event_id) FROM {ACTIVITY_TABLE} "  # noqa: S608
        "WHERE partner_id = {p:String}",
        {"p": PARTNER},
    )[0]
    assert (stored, distinct) == (EVENTS + 3 * (EVENTS // 10), EVENTS)


@pytest.mark.parametrize("partner", [PARTNER, None])
def test_the_csv_export_holds_every_event_once_with_the_same_bytes(
    dup_store: Store, partner: str | None
) -> None:
    flt = _year(partner)
    streamed = b"".join(stream_csv(dup_store, flt, "en", sliced=False))
    sliced = b"".join(stream_csv(dup_store, flt, "en", sliced=True))
    where, params = flt.where()
    without_prewhere = dup_store.query_formatted(
        export_query(csv_select(), where, CSV_SETTINGS), params, "CSV"
    )
    assert streamed == sliced == header_bytes("en") + without_prewhere
    records = list(csv.reader(io.StringIO(streamed.decode("utf-8-sig"), newline="")))[1:]
    keys = dup_store.query_rows(
        f"SELECT uniqExact(partner_id, occurred_at, event_id) FROM {ACTIVITY_TABLE} "  # noqa: S608
        f"WHERE {where}",
        params,
    )[0][0]
    assert len(records) == count_activity(dup_store, flt) == keys
    assert keys >= (EVENTS if partner else EVENTS * 2)
    reference = b"".join(csv_chunks(iter_export_rows(dup_store, flt)))
    assert records == list(csv.reader(io.StringIO(reference.decode("utf-8-sig"), newline="")))[1:]


def test_the_jsonl_export_names_each_event_once(dup_store: Store) -> None:
    lines = b"".join(stream_jsonl(dup_store, _year(PARTNER))).splitlines()
    ids = [orjson.loads(line)["event_id"] for line in lines]
    assert len(ids) == len(set(ids)) == EVENTS
    assert set(ids) == {eid(f"dup-{i}") for i in range(EVENTS)}
