"""Render the migrations' DDL for a single server or for a ClickHouse cluster.

The migrations in `schemas/migrations/` are written once, for one server.
On a cluster (`ACTIVITYLOG_CLICKHOUSE_CLUSTER`) the same statements become
the replicated + distributed variant: the data lives in `activity_local`
(ReplicatedReplacingMergeTree, every statement `ON CLUSTER`), and `activity`
is a Distributed table sharded by partner, so one partner's duplicates
always meet on one shard and `FINAL` still collapses them. The access-path
tables are sharded the same way, and their materialized views read the shard's
`activity_local` and write its local table, so a derived row lives on the
shard of the row it derives from.
"""

from __future__ import annotations

import re
from typing import Final

from schemas.activity import ACTIVITY_TABLE
from schemas.tables import (
    BY_CORRELATION_TABLE,
    BY_CUSTOMER_TABLE,
    BY_EVENT_TABLE,
    NAMES_TABLE,
    RECORDS_TABLE,
)

LOCAL_SUFFIX: Final = "_local"
SHARDING_KEY: Final = "cityHash64(partner_id)"
REPLICATED_PATH: Final = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
# Tables that hold activity rows or rows derived from them (its access paths): on a
# cluster each is local + Distributed, sharded like activity, and all expire with the
# retention TTL (`occurred_at` + N days), so no access path outlives the row it points at.
ROW_TABLES: Final = (
    ACTIVITY_TABLE,
    BY_EVENT_TABLE,
    BY_CUSTOMER_TABLE,
    RECORDS_TABLE,
    BY_CORRELATION_TABLE,
    NAMES_TABLE,
)
SHARDED_TABLES: Final = frozenset(ROW_TABLES)
RETAINED_TABLES: Final = ROW_TABLES

_CREATE = re.compile(r"^\s*CREATE TABLE IF NOT EXISTS\s+(\w+)\s*(?=\()", re.IGNORECASE)
_ALTER = re.compile(r"^\s*ALTER TABLE\s+(\w+)\s+", re.IGNORECASE)
_VIEW = re.compile(
    rf"^\s*CREATE MATERIALIZED VIEW IF NOT EXISTS\s+(\w+)\s+TO\s+(\w+)\s+AS\s+"
    rf"(SELECT\s.*\sFROM\s+{ACTIVITY_TABLE})\s*$",
    re.IGNORECASE | re.DOTALL,
)
# An ALTER that changes columns: a Distributed table's column list is its own, so the
# change applies to it too (after the shards' local tables, which it routes to).
_COLUMN_CHANGE = re.compile(r"^(ADD|MODIFY|DROP|RENAME|COMMENT) COLUMN\b", re.IGNORECASE)
# The engine and its arguments (a ReplacingMergeTree's version column), which the
# replicated engine takes after its path and replica.
_ENGINE = re.compile(r"ENGINE\s*=\s*(Replacing|Summing|Aggregating)?MergeTree(?:\s*\(([^)]*)\))?")


def render(statement: str, cluster: str | None) -> list[str]:
    """The statements to run for `statement` on a single server (`cluster` None) or a cluster."""
    if cluster is None:
        return [statement]
    on_cluster = f" ON CLUSTER `{cluster}`"
    view = _VIEW.match(statement)
    if view:
        view_name, target, select = view.groups()
        view_source = select.removesuffix(ACTIVITY_TABLE) + _local(ACTIVITY_TABLE)
        return [
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view_name}{on_cluster} "
            f"TO {_local(target)} AS {view_source}"
        ]
    created = _CREATE.match(statement)
    if created:
        table = created.group(1)
        local = _local(table)
        body = statement[created.end() :]
        body = _ENGINE.sub(
            lambda m: (
                f"ENGINE = Replicated{m.group(1) or ''}MergeTree("
                f"{', '.join(filter(None, (REPLICATED_PATH, (m.group(2) or '').strip())))})"
            ),
            body,
            count=1,
        )
        out = [f"CREATE TABLE IF NOT EXISTS {local}{on_cluster}\n{body}"]
        if table in SHARDED_TABLES:
            out.append(
                f"CREATE TABLE IF NOT EXISTS {table}{on_cluster} AS {local} "
                f"ENGINE = Distributed(`{cluster}`, currentDatabase(), {local}, {SHARDING_KEY})"
            )
        return out
    altered = _ALTER.match(statement)
    if altered:
        table = altered.group(1)
        clauses = statement[altered.end() :]
        out = [f"ALTER TABLE {_local(table)}{on_cluster} {clauses}"]
        if table in SHARDED_TABLES and _COLUMN_CHANGE.match(clauses):
            out.append(f"ALTER TABLE {table}{on_cluster} {clauses}")
        return out
    return [statement]


def view_backfill(statement: str) -> tuple[str, str] | None:
    """(target, SELECT) of a materialized view on activity, None for any other statement.

    The SELECT is the view's own, read from `activity` (Distributed on a cluster) and
    written to `target` (Distributed too, sharded like activity): a backfill of
    existing rows computes exactly what the view computes for new ones.
    """
    view = _VIEW.match(statement)
    return (view.group(2), view.group(3)) if view else None


def _local(table: str) -> str:
    return table + LOCAL_SUFFIX if table in SHARDED_TABLES else table


def data_table(cluster: str | None, table: str = ACTIVITY_TABLE) -> str:
    """The table that holds `table`'s rows (and carries TTLs, projections): local on a cluster."""
    return _local(table) if cluster else table


def retention_statement(days: int, cluster: str | None, table: str = ACTIVITY_TABLE) -> str:
    """`MODIFY TTL` for `days` > 0, `REMOVE TTL` for 0 (keep everything) on `table`'s rows."""
    on_cluster = f" ON CLUSTER `{cluster}`" if cluster else ""
    table = data_table(cluster, table)
    if days > 0:
        return (
            f"ALTER TABLE {table}{on_cluster} "
            f"MODIFY TTL toDateTime(occurred_at) + INTERVAL {int(days)} DAY"
        )
    return f"ALTER TABLE {table}{on_cluster} REMOVE TTL"
