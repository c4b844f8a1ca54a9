"""Reads of the activity table: filtered date ranges, keyset pages, one record, export slices.

Every query is parameterized (`{name:Type}` placeholders); identifiers come
from our constants only. A redelivered event or a re-inserted batch is never
visible twice (docs/contracts.md, Guarantees): exports, details and counts read with FINAL; a
page collapses the copies itself, which is cheaper (see `list_activity`).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from common.errors import BadQuery, StoreUnavailable
from common.store import EMBEDDED_DATABASE, Store
from query.filters import ActivityFilter
from schemas.activity import ACTIVITY_TABLE

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50

# Columns of a list item; detail adds `details` parsed and the original `payload`.
LIST_COLUMNS: tuple[str, ...] = (
    "event_id",
    "occurred_at",
    "partner_id",
    "kind",
    "action",
    "customer_id",
    "customer_name",
    "partner_user",
    "action_text",
    "status",
    "status_text",
    "additional_info",
    "resource_type",
    "resource_id",
    "resource_name",
    "order_id",
    "correlation_id",
    "details",
)
DETAIL_COLUMNS: tuple[str, ...] = (
    *LIST_COLUMNS,
    "source",
    "actor_ip",
    "user_agent",
    "payload",
    "schema_version",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "ingested_at",
)
# The export's columns (docs/contracts.md, The activity record), in the seed's order after the date.
EXPORT_COLUMNS: tuple[str, ...] = (
    "occurred_at",
    "customer_name",
    "action_text",
    "partner_user",
    "status_text",
    "additional_info",
    "customer_id",
    "event_id",
)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(occurred_at: datetime, event_id: str) -> str:
    ms = int(occurred_at.replace(tzinfo=occurred_at.tzinfo or UTC).timestamp() * 1000)
    return base64.urlsafe_b64encode(orjson.dumps([ms, event_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ms, event_id = orjson.loads(raw)
        if not isinstance(ms, int) or not isinstance(event_id, str):
            raise ValueError
        return datetime.fromtimestamp(ms / 1000, UTC), event_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadQuery("cursor", "is not a cursor this server issued") from None


def _select(columns: Sequence[str]) -> str:
    return ", ".join(columns)


def list_activity(
    store: Store, flt: ActivityFilter, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page:
    """One page, newest first; the keyset cursor stays stable while rows keep arriving.

    Duplicates (a redelivered event, a re-inserted batch) share the whole sort
    key, so in this order they sit next to each other: the page reads a window
    of twice the rows it needs without FINAL and collapses them itself (the
    copy ingested last wins, as in the ReplacingMergeTree). Only when that
    window is mostly duplicates does it ask ClickHouse for FINAL. Measured on
    1M rows: FINAL made the first page about 2-3x slower.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery("limit", f"must be between 1 and {MAX_LIMIT}")
    where, params = flt.where()
    if cursor:
        at, event_id = decode_cursor(cursor)
        where += (
            " AND (occurred_at < {cursor_at:DateTime64(3, 'UTC')} OR "
            "(occurred_at = {cursor_at:DateTime64(3, 'UTC')} AND event_id < {cursor_id:String}))"
        )
        params |= {"cursor_at": at, "cursor_id": event_id}
    wanted = int(limit) + 1
    window = 2 * wanted
    # Limits are validated ints, written as literals: a `{limit:UInt32}`
    # placeholder measured 30% slower on the first page (1M rows, chDB 26.9).
    sql = (
        f"SELECT {_select(LIST_COLUMNS)}, ingested_at FROM {ACTIVITY_TABLE} "  # noqa: S608
        f"WHERE {where} ORDER BY occurred_at DESC, event_id DESC LIMIT {window}"
    )
    fetched = store.query_dicts(sql, params)
    rows = collapse_duplicates(fetched)
    if len(fetched) == window and len(rows) < wanted:
        final = (
            f"SELECT {_select(LIST_COLUMNS)} FROM {ACTIVITY_TABLE} FINAL "  # noqa: S608
            f"WHERE {where} ORDER BY occurred_at DESC, event_id DESC LIMIT {wanted}"
        )
        rows = store.query_dicts(final, params)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [present(row) for row in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(last["occurred_at"], last["event_id"])
    return Page(items=items, next_cursor=next_cursor)


def collapse_duplicates(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep one row per (partner_id, occurred_at, event_id), in first-seen order.

    Of several copies the one ingested last wins (`ingested_at`, read for the
    choice and dropped from the result), as in the ReplacingMergeTree.
    """
    chosen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row["partner_id"], row["occurred_at"], row["event_id"])
        seen = chosen.get(key)
        # Re-assigning a key keeps its place in the dict: the order stays first-seen.
        if seen is None or row["ingested_at"] > seen["ingested_at"]:
            chosen[key] = row
    return [{k: v for k, v in row.items() if k != "ingested_at"} for row in chosen.values()]


def get_activity(store: Store, event_id: str, partner_id: str | None) -> dict[str, Any] | None:
    """One record with its full details; None if absent or another partner's."""
    params: dict[str, Any] = {"event_id": event_id}
    where = "event_id = {event_id:String}"
    if partner_id is not None:
        where += " AND partner_id = {partner_id:String}"
        params["partner_id"] = partner_id
    sql = f"SELECT {_select(DETAIL_COLUMNS)} FROM {ACTIVITY_TABLE} FINAL WHERE {where} LIMIT 1"  # noqa: S608
    rows = store.query_dicts(sql, params)
    if not rows:
        return None
    item = present(rows[0])
    item["payload"] = _json_or_text(rows[0]["payload"])
    return item


def iter_export_rows(store: Store, flt: ActivityFilter) -> Iterator[tuple[Any, ...]]:
    """Every matching row (`EXPORT_COLUMNS`) in the export order, slice by slice."""
    for where, params in export_slices(store, flt):
        sql = (
            f"SELECT {_select(EXPORT_COLUMNS)} FROM {ACTIVITY_TABLE} FINAL "  # noqa: S608
            f"WHERE {where} ORDER BY {_select(EXPORT_ORDER)}"
        )
        yield from store.query_rows(sql, params)


# Exports walk the table in its own sort key: ClickHouse then reads in order
# (no sort of the whole range, so memory stays flat) and a partner's rows come
# oldest first. An all-partners key gets them grouped by partner.
EXPORT_ORDER: tuple[str, ...] = ("partner_id", "occurred_at", "event_id")
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
            f"SELECT {_select(EXPORT_ORDER)} FROM {ACTIVITY_TABLE} WHERE {where} "  # noqa: S608
            f"ORDER BY {_select(EXPORT_ORDER)} LIMIT 1 OFFSET {int(rows) - 1}"
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


def raw_export(store: Store, sql: str, params: dict[str, Any], fmt: str) -> bytes:
    """One query's result as the store formats it (`FORMAT fmt`), as bytes."""
    return store.query_formatted(sql, params, fmt)


def count_activity(store: Store, flt: ActivityFilter) -> int:
    where, params = flt.where()
    sql = f"SELECT count() FROM {ACTIVITY_TABLE} FINAL WHERE {where}"  # noqa: S608
    return int(store.query_rows(sql, params)[0][0])


def present(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the API shows it: UTC ISO timestamps, details as JSON."""
    item = dict(row)
    for key in ("occurred_at", "ingested_at"):
        if isinstance(item.get(key), datetime):
            item[key] = iso_utc(item[key])
    if "details" in item:
        item["details"] = _json_or_text(item["details"]) if item["details"] else None
    if "customer_id" in item:
        # A partner-level action (e.g. `export.create`) has no customer, so no
        # Subscriptions page: `scope` says which kind of row this is.
        customer_id = item["customer_id"]
        item["scope"] = "customer" if customer_id else "partner"
        item["subscriptions_url"] = (
            f"/customers/{quote(customer_id, safe='')}/subscriptions" if customer_id else None
        )
    return item


def iso_utc(value: datetime) -> str:
    """`2026-11-27T10:00:00.123Z` (stored values come back naive, in UTC)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_or_text(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


class RecordChunks:
    """An export's chunks, each ending a record, with how many records it holds.

    Counting a CSV's records means finding every newline outside quotes,
    which measured a quarter of a 1M-row export's time; the engine already
    knows how many rows each block holds. `records` is the count of the
    chunk last returned.
    """

    def __init__(self, pairs: Iterator[tuple[bytes, int]]) -> None:
        self._pairs = pairs
        self.records = 0

    def __iter__(self) -> RecordChunks:
        return self

    def __next__(self) -> bytes:
        chunk, self.records = next(self._pairs)
        return chunk

    def close(self) -> None:
        """Stop the query behind the chunks (a generator's close)."""
        close = getattr(self._pairs, "close", None)
        if close is not None:
            close()


def stream_embedded(store: Store, sql: str, params: dict[str, Any], fmt: str) -> RecordChunks:
    """Stream one query's formatted output from an embedded store, block by block.

    The query runs on a chDB connection of its own: a connection that
    streams can run nothing else, so the store's shared client would block
    every page request for the whole export (chDB allows any number of
    connections to the one engine of a process). Each block's bytes are
    yielded as chDB hands them over, with its row count: going through
    clickhouse-connect's file-like `raw_stream` instead copies every byte
    four more times in Python, which measured 15% of a 1M-row CSV export's
    time and left no core for hashing it. Parameters are bound server-side,
    as the client binds them. Closing the chunks early cancels the query.
    """
    location = store.location
    if location.mode != "embedded" or location.path is None:
        raise ValueError("stream_embedded needs an embedded (chdb://) store")
    return RecordChunks(_embedded_blocks(store, sql, params, fmt))


def _embedded_blocks(
    store: Store, sql: str, params: dict[str, Any], fmt: str
) -> Iterator[tuple[bytes, int]]:
    import chdb
    from clickhouse_connect.driver.binding import bind_query

    location = store.location
    assert location.path is not None  # checked by stream_embedded
    query, bound = bind_query(sql, params)
    values = {name.removeprefix("param_"): value for name, value in bound.items()}
    try:
        # The engine path must be spelled as the store's client spelled it (realpath).
        conn = chdb.connect(os.path.realpath(location.path))  # type: ignore[no-untyped-call]
        try:
            conn.query(f"USE {EMBEDDED_DATABASE}")
            stream = conn.send_query(query, fmt, params=values)
            try:
                for block in stream:
                    if data := block.bytes():
                        yield data, block.rows_read()
            finally:
                stream.close()
        finally:
            conn.close()
    except (chdb.ChdbError, RuntimeError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StoreUnavailable(f"{location.describe()}: {first[:300]}") from exc


# Streamed exports: small blocks and one thread keep ClickHouse's working set
# small (measured on 1M rows: +80 MB RSS instead of +600 MB, and faster, as
# the read follows the sort key and needs no parallel merge). Formatting on
# the same thread too: parallel formatting spent a third more CPU for a
# slower stream, and the spare core is what hashes the export for its manifest.
STREAM_SETTINGS = "max_block_size = 8192, max_threads = 1, output_format_parallel_formatting = 0"


def arrow_export(store: Store, sql: str, params: dict[str, Any]) -> Any:
    """One query's result as a pyarrow Table (for Parquet)."""
    return store.query_arrow(sql, params)


# The record exported as JSONL and Parquet: the list item's fields, minus the
# page-only `subscriptions_url`, in a reader-friendly order.
RECORD_COLUMNS: tuple[str, ...] = (
    "event_id",
    "occurred_at",
    "partner_id",
    "customer_id",
    "customer_name",
    "kind",
    "action",
    "action_text",
    "partner_user",
    "status",
    "status_text",
    "additional_info",
    "resource_type",
    "resource_id",
    "resource_name",
    "order_id",
    "correlation_id",
    "details",
)
