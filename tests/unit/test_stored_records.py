"""The stored-activity topic's records: one per partner per batch, in order, bounded in size."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from processors.batch import Consumed, process_batch
from processors.delivery.payload import DELIVERED_COLUMNS
from processors.stored import MAX_RECORD_BYTES, read_stored, stored_records
from schemas.topics import PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import valid_partner_action

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _rows(partners: list[str], **overrides: str) -> list[dict[str, object]]:
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
    return list(result.rows)  # type: ignore[arg-type]


def test_one_record_per_partner_keyed_by_it_with_its_activities_in_row_order() -> None:
    rows = _rows(["p-a", "p-b", "p-a", "p-c", "p-a"])
    records = stored_records(rows)  # type: ignore[arg-type]
    assert [key for key, _v in records] == [b"p-a", b"p-b", b"p-c"]
    by_key = {key: read_stored(value) for key, value in records}
    expected = [r["event_id"] for r in rows if r["partner_id"] == "p-a"]
    assert [a["event_id"] for a in by_key[b"p-a"]] == expected
    activity = by_key[b"p-b"][0]
    assert tuple(activity) == DELIVERED_COLUMNS  # what a destination receives, nothing more
    assert activity["occurred_at"].endswith("Z")


def test_a_partner_with_more_than_a_record_holds_is_split_in_order() -> None:
    big = "x" * 2000
    rows = _rows(["p-a"] * 300, customer_name=big)
    records = stored_records(rows)  # type: ignore[arg-type]
    assert len(records) > 1
    assert all(len(value) <= MAX_RECORD_BYTES + 2 for _k, value in records)
    ids = [a["event_id"] for _k, value in records for a in read_stored(value)]
    assert ids == [r["event_id"] for r in rows]


def test_an_activity_larger_than_a_record_goes_alone_and_nothing_is_empty() -> None:
    rows = _rows(["p-a", "p-a", "p-a"], customer_name="y" * (MAX_RECORD_BYTES + 10))
    records = stored_records(rows)  # type: ignore[arg-type]
    assert [len(read_stored(value)) for _k, value in records] == [1, 1, 1]
    assert stored_records([]) == []
