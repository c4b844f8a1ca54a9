"""The stored-activity topic's records: one per partner per batch, in order, bounded in size,
and read back exactly as a destination receives each activity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from processors.batch import Consumed, process_batch
from processors.delivery.payload import DELIVERED_COLUMNS, activity_json
from processors.stored import MAX_RECORD_BYTES, read_stored, stored_records
from schemas.activity import ActivityRow
from schemas.topics import PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import valid_partner_action

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _rows(partners: list[str], **overrides: Any) -> list[ActivityRow]:
    messages = [
        Consumed(
            PARTNER_ACTIONS_TOPIC,
            0,
            i,
            b"k",
            orjson.dumps(valid_partner_action(partner_id=p, **overrides)),
        )
        for i, p in enumerate(partners)
    ]
    result = process_batch(messages, NOW, 10_000_000)
    assert not result.rejected
    return result.rows


def test_one_record_per_partner_keyed_by_it_with_its_activities_in_row_order() -> None:
    rows = _rows(["p-a", "p-b", "p-a", "p-c", "p-a"])
    records = stored_records(rows)
    assert [key for key, _v in records] == [b"p-a", b"p-b", b"p-c"]
    by_key = {key: read_stored(value) for key, value in records}
    mine = [r for r in rows if r["partner_id"] == "p-a"]
    assert by_key[b"p-a"] == [activity_json(r) for r in mine]
    assert tuple(by_key[b"p-b"][0]) == DELIVERED_COLUMNS  # what a destination receives


def test_read_back_the_time_is_the_one_a_destination_receives_at_every_precision() -> None:
    stamps = ["2026-11-20T10:00:00Z", "2026-11-20T10:00:00.120Z", "2026-11-20T10:00:00.123456Z"]
    stamps.append("2026-11-20T11:00:00.005+01:00")
    rows = [row for stamp in stamps for row in _rows(["p-a"], occurred_at=stamp)]
    got = [a for _k, value in stored_records(rows) for a in read_stored(value)]
    assert got == [activity_json(r) for r in rows]
    assert [a["occurred_at"] for a in got] == [
        "2026-11-20T10:00:00.000Z",
        "2026-11-20T10:00:00.120Z",
        "2026-11-20T10:00:00.123Z",
        "2026-11-20T10:00:00.005Z",
    ]


def test_a_partner_with_more_than_a_record_holds_is_split_in_order() -> None:
    rows = _rows(["p-a"] * 300, customer_name="x" * 2000)
    records = stored_records(rows)
    assert len(records) > 1
    assert all(len(value) <= MAX_RECORD_BYTES for _k, value in records)
    ids = [a["event_id"] for _k, value in records for a in read_stored(value)]
    assert ids == [r["event_id"] for r in rows]


def test_an_activity_larger_than_a_record_goes_alone_and_nothing_is_empty() -> None:
    rows = _rows(["p-a", "p-a", "p-a"], customer_name="y" * (MAX_RECORD_BYTES + 10))
    records = stored_records(rows)
    assert [len(read_stored(value)) for _k, value in records] == [1, 1, 1]
    assert stored_records([]) == []
