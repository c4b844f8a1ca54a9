"""Render the migrations' DDL for a single server or for a ClickHouse cluster.

The migrations in `schemas/migrations/` are written once, for one server.
On a cluster (`ACTIVITYLOG_CLICKHOUSE_CLUSTER`) the same statements become
the replicated + distributed variant: the data lives in `activity_local`
(ReplicatedReplacingMergeTree, every statement `ON CLUSTER`), and `activity`
is a Distributed table sharded by partner, so one partner's duplicates
always meet on one shard and `FINAL` still collapses them.
"""

from __future__ import annotations

import re
from typing import Final

from schemas.activity import ACTIVITY_TABLE

LOCAL_SUFFIX: Final = "_local"
SHARDING_KEY: Final = "cityHash64(partner_id)"
REPLICATED_PATH: Final = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"

_CREATE = re.compile(r"^\s*CREATE TABLE IF NOT EXISTS\s+(\w+)\s*(?=\()", re.IGNORECASE)
_ALTER = re.compile(r"^\s*ALTER TABLE\s+(\w+)\s+", re.IGNORECASE)
_ENGINE = re.compile(r"ENGINE\s*=\s*(Replacing|Summing|Aggregating)?MergeTree(\s*\(\s*\))?")


def render(statement: str, cluster: str | None) -> list[str]:
    """The statements to run for `statement` on a single server (`cluster` None) or a cluster."""
    if cluster is None:
        return [statement]
    on_cluster = f" ON CLUSTER `{cluster}`"
    created = _CREATE.match(statement)
    if created:
        table = created.group(1)
        local = table + LOCAL_SUFFIX if table == ACTIVITY_TABLE else table
        body = statement[created.end() :]
        body = _ENGINE.sub(
            lambda m: f"ENGINE = Replicated{m.group(1) or ''}MergeTree({REPLICATED_PATH})",
            body,
            count=1,
        )
        out = [f"CREATE TABLE IF NOT EXISTS {local}{on_cluster}\n{body}"]
        if table == ACTIVITY_TABLE:
            out.append(
                f"CREATE TABLE IF NOT EXISTS {ACTIVITY_TABLE}{on_cluster} AS {local} "
                f"ENGINE = Distributed(`{cluster}`, currentDatabase(), {local}, {SHARDING_KEY})"
            )
        return out
    altered = _ALTER.match(statement)
    if altered:
        table = altered.group(1)
        local = table + LOCAL_SUFFIX if table == ACTIVITY_TABLE else table
        return [f"ALTER TABLE {local}{on_cluster} {statement[altered.end() :]}"]
    return [statement]


def data_table(cluster: str | None) -> str:
    """The table that holds the rows (and carries TTLs, projections): local on a cluster."""
    return ACTIVITY_TABLE + LOCAL_SUFFIX if cluster else ACTIVITY_TABLE


def retention_statement(days: int, cluster: str | None) -> str:
    """`MODIFY TTL` for `days` > 0, `REMOVE TTL` for 0 (keep everything)."""
    on_cluster = f" ON CLUSTER `{cluster}`" if cluster else ""
    table = data_table(cluster)
    if days > 0:
        return (
            f"ALTER TABLE {table}{on_cluster} "
            f"MODIFY TTL toDateTime(occurred_at) + INTERVAL {int(days)} DAY"
        )
    return f"ALTER TABLE {table}{on_cluster} REMOVE TTL"
