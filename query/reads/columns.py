"""What the reads select: the column lists of a page, a record and an export, and the export's SQL.

Identifiers here are our constants; every value goes in as a parameter.
"""

from __future__ import annotations

from schemas.activity import (
    ACTIVITY_TABLE,
    LIST_COLUMNS,
    OUTCOME_AND_RESOURCE_COLUMNS,
    SHOWN_COLUMNS,
)

__all__ = ["DETAIL_COLUMNS", "LIST_COLUMNS", "RECORD_COLUMNS"]

# The expanded row: what a reader is shown, then the audit columns.
DETAIL_COLUMNS: tuple[str, ...] = (
    *SHOWN_COLUMNS,
    "payload",
    "schema_version",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "ingested_at",
)
# The record exported as JSONL: the list item's fields, minus the page-only
# `subscriptions_url`, in a reader-friendly order.
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
    *OUTCOME_AND_RESOURCE_COLUMNS,
)

# Exports walk the table in its own sort key: ClickHouse then reads in order
# (no sort of the whole range, so memory stays flat) and a partner's rows come
# oldest first. An all-partners key gets them grouped by partner.
EXPORT_ORDER: tuple[str, ...] = ("partner_id", "occurred_at", "event_id")

# Streamed exports: small blocks and one thread keep ClickHouse's working set
# small (measured on 1M rows: +80 MB RSS instead of +600 MB, and faster, as
# the read follows the sort key and needs no parallel merge). Formatting on
# the same thread too: parallel formatting spent a third more CPU for a
# slower stream, and the spare core is what hashes the export for its manifest.
# FINAL merges each partition on its own and reads a partition of one part
# without merging (`do_not_merge_across_partitions_select_final`; recent
# ClickHouse decides so by itself, a server may be older). Valid because the
# copies of an event never span partitions: they share the sort key
# (partner_id, occurred_at, event_id), and the partition key,
# toYYYYMM(occurred_at), is a function of one of its columns
# (schemas/migrations/0001_create_activity.sql, checked by
# tests/integration/test_export_final.py).
STREAM_SETTINGS = (
    "max_block_size = 8192, max_threads = 1, output_format_parallel_formatting = 0, "
    "do_not_merge_across_partitions_select_final = 1"
)


def select_list(columns: tuple[str, ...]) -> str:
    """`a, b, c`: columns as a SELECT or ORDER BY list."""
    return ", ".join(columns)


def export_query(select: str, where: str, *settings: str, prewhere: str = "") -> str:
    """The one shape of an export's query: FINAL, in `EXPORT_ORDER`, streamed.

    `select` is the format's SELECT list, `where` a filter's or a slice's
    clause, `prewhere` the filter's `key_where()` (conditions on sort-key
    columns only), `settings` the format's own output settings (ahead of
    `STREAM_SETTINGS`). Output settings ride in the query text: a per-call
    client setting makes clickhouse-connect's chDB backend materialize the
    result instead of streaming it.

    Why PREWHERE: ClickHouse applies a WHERE after FINAL's merge (it does not
    move conditions to PREWHERE under FINAL), so the rows of the granules at
    the edges of the partner's key range in every part would all go through
    the merge and be dropped after it: on generated data, a one-year export of
    the biggest partner reads 3 rows per row it returns (EXPLAIN ESTIMATE).
    """
    condition = f"PREWHERE {prewhere} WHERE {where}" if prewhere else f"WHERE {where}"
    return (
        f"SELECT {select} FROM {ACTIVITY_TABLE} FINAL {condition} "  # noqa: S608
        f"ORDER BY {select_list(EXPORT_ORDER)} SETTINGS {', '.join((*settings, STREAM_SETTINGS))}"
    )
