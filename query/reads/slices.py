"""An export cut into bounded key ranges or into months, and the count of what it holds.

The count and each slice's own query read with FINAL, so a redelivered
event counts and exports once (docs/contracts.md, Guarantees).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from common.store import Store
from query.filters import ActivityFilter
from query.reads.columns import EXPORT_ORDER, select_list
from schemas.activity import ACTIVITY_TABLE

SLICE_ROWS = 50_000

# Key comparisons spelled out with AND/OR: ClickHouse's primary-key analysis
# uses these to skip granules.
_AFTER_KEY = (
    "(partner_id > {after_p:String} OR (partner_id = {after_p:String} AND "
    "(occurred_at > {after_t:DateTime64(3, 'UTC')} OR "
    "(occurred_at = {after_t:DateTime64(3, 'UTC')} AND event_id > {after_e:String}))))"
)
_UPTO_KEY = (
    "(partner_id < {upto_p:String} OR (partner_id = {upto_p:String} AND "
    "(occurred_at < {upto_t:DateTime64(3, 'UTC')} OR "
    "(occurred_at = {upto_t:DateTime64(3, 'UTC')} AND event_id <= {upto_e:String}))))"
)


def export_slices(
    store: Store, flt: ActivityFilter, rows: int = SLICE_ROWS
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Cut a filtered export into consecutive key ranges of about `rows` rows each.

    Yields (WHERE clause, parameters) per slice, in `EXPORT_ORDER`. Why slices:
    each one is a short, bounded query, so memory stays flat however long the
    range, and the store's client is never held for a whole export (pages keep
    answering while an analyst downloads a year). The boundary probe reads only
    the key columns without FINAL; duplicates only make a slice a little
    smaller, the slice's own query uses FINAL.
    """
    if rows < 1:
        raise ValueError("rows must be at least 1")
    base, base_params = flt.where()
    after: tuple[Any, ...] | None = None
    while True:
        where, params = base, dict(base_params)
        if after is not None:
            where += " AND " + _AFTER_KEY
            params |= {"after_p": after[0], "after_t": after[1], "after_e": after[2]}
        probe = (
            f"SELECT {select_list(EXPORT_ORDER)} FROM {ACTIVITY_TABLE} WHERE {where} "  # noqa: S608
            f"ORDER BY {select_list(EXPORT_ORDER)} LIMIT 1 OFFSET {int(rows) - 1}"
        )
        found = store.query_rows(probe, params)
        if not found:
            yield where, params  # the rest, fewer than `rows` rows
            return
        upto = found[0]
        yield (
            where + " AND " + _UPTO_KEY,
            params | {"upto_p": upto[0], "upto_t": upto[1], "upto_e": upto[2]},
        )
        after = upto


def month_filters(flt: ActivityFilter) -> Iterator[ActivityFilter]:
    """`flt` cut at the activity table's partition bounds, in `EXPORT_ORDER`: one filter
    per UTC calendar month its range touches, oldest first, for one partner's export.

    Why: a query in the sort key's order reads every part of its range at
    once, each with buffers of its own: about 3.8 MiB of engine memory a part
    (docs/operations.md, Memory). One query per month reads one partition's
    parts, so an export's memory does not grow with the months it spans, nor
    with the fresh parts a bulk load leaves. The concatenation is the same
    rows in the same order only when one partner's rows are exported: the
    partition key is toYYYYMM(occurred_at)
    (schemas/migrations/0001_create_activity.sql), and an all-partners export,
    ordered by partner first, is yielded whole.
    """
    if flt.partner_id is None:
        yield flt
        return
    start, end = flt.range.start.astimezone(UTC), flt.range.end.astimezone(UTC)
    while start < end:
        month_end = _next_month(start)
        yield replace(flt, range=replace(flt.range, start=start, end=min(month_end, end)))
        start = month_end


def _next_month(instant: datetime) -> datetime:
    """Midnight UTC on the first day of the month after `instant`'s."""
    year, month = (
        (instant.year + 1, 1) if instant.month == 12 else (instant.year, instant.month + 1)
    )
    return datetime(year, month, 1, tzinfo=UTC)


def count_activity(store: Store, flt: ActivityFilter) -> int:
    """How many records `flt` matches, each redelivered event once."""
    where, params = flt.where()
    sql = f"SELECT count() FROM {ACTIVITY_TABLE} FINAL PREWHERE {flt.key_where()} WHERE {where}"  # noqa: S608
    return int(store.query_rows(sql, params)[0][0])
