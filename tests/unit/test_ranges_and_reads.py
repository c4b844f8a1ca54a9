"""Date ranges, cursors and query building: pure parts of the read side."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.errors import BadQuery
from query.filters import ActivityFilter
from query.ranges import resolve_range
from query.reads.pages import decode_cursor, encode_cursor

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def test_dates_are_inclusive_in_the_time_zone() -> None:
    r = resolve_range("2026-10-01", "2026-10-31", "Europe/Paris", NOW)
    assert r.start == datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
    # Paris leaves summer time on 2026-10-25: the end is local midnight at +01:00.
    assert r.end == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert r.label() == ("2026-10-01", "2026-10-31")


def test_both_omitted_is_the_most_recent_month() -> None:
    r = resolve_range(None, None, None, NOW)
    assert r.end == datetime(2026, 11, 28, tzinfo=UTC)
    assert (r.end - r.start).days == 30


def test_rfc3339_bounds_are_instants() -> None:
    r = resolve_range("2026-11-01T10:00:00+01:00", "2026-11-02T00:00:00Z", None, NOW)
    assert r.start == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    assert r.end == datetime(2026, 11, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("from_", "to", "tz", "param"),
    [
        ("2026-13-01", None, None, "from"),
        ("yesterday", None, None, "from"),
        (None, "2026-11-01T10:00:00", None, "to"),
        ("2026-11-10", "2026-11-01", None, "from"),
        ("2026-11-01", None, "Mars/Olympus", "tz"),
    ],
)
def test_bad_ranges_name_the_parameter(
    from_: str | None, to: str | None, tz: str | None, param: str
) -> None:
    with pytest.raises(BadQuery) as info:
        resolve_range(from_, to, tz, NOW)
    assert info.value.param == param


def test_cursor_round_trips_and_rejects_garbage() -> None:
    at = datetime(2026, 11, 3, 4, 5, 6, 789000, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, "e-1")) == (at, "e-1")
    for bad in ("", "!!!", "bm90IGpzb24", "WzEsMl0"):
        with pytest.raises(BadQuery):
            decode_cursor(bad)


def test_user_text_only_enters_as_parameters() -> None:
    hostile = "x' OR 1=1 --"
    flt = ActivityFilter(
        range=resolve_range(None, None, None, NOW),
        partner_id="p",
        customer=hostile,
        q=hostile,
        action=hostile,
        partner_user=hostile,
        customer_id=hostile,
        status=hostile,
    )
    sql, params = flt.where()
    assert hostile not in sql
    assert params["customer"] == hostile and params["q"] == hostile


def test_duplicates_collapse_to_the_copy_ingested_last_in_page_order() -> None:
    from query.reads.pages import collapse_duplicates

    t1, t2 = datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    early, late = datetime(2026, 11, 4, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC)

    def row(at: datetime, event: str, ingested: datetime, offset: int) -> dict[str, object]:
        return {
            "partner_id": "p",
            "occurred_at": at,
            "event_id": event,
            "ingested_at": ingested,
            "kafka_offset": offset,
        }

    rows = [
        row(t1, "b", early, 1),
        row(t1, "b", late, 2),
        row(t1, "a", early, 3),
        row(t2, "c", late, 4),
        row(t2, "c", early, 5),
    ]
    out = collapse_duplicates(rows)
    assert [(r["event_id"], r["kafka_offset"]) for r in out] == [("b", 2), ("a", 3), ("c", 4)]
    assert all("ingested_at" not in r for r in out)
