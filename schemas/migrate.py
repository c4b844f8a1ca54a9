"""Versioned migrations of the store: applied once each, in order, and the retention TTL.

The DDL lives in `schemas/migrations/*.sql`; `schemas.ddl` renders each statement for a
single server or a cluster. Every process that writes or reads opens its store through
`open_migrated` or `migrated_store`, so the tables exist before the first query.

A migration that creates a materialized view on `activity` also backfills the view's
table from the rows already there, one month of `occurred_at` at a time, logging its
progress. Each finished month is recorded beside the versions, so a backfill stopped
half-way (even by kill -9) resumes at the month it was copying; that month's rows then
arrive twice and collapse like any re-inserted batch. The version itself is recorded
only after its last month.
"""

from __future__ import annotations

import importlib.resources
import logging
import time
from pathlib import Path

from common.settings import Settings
from common.store import Store, StoreBounds
from schemas import ddl
from schemas.activity import ACTIVITY_TABLE
from schemas.stored_texts import MATERIALIZED_LANGUAGES, add_columns, digest_column
from schemas.tables import MIGRATIONS_TABLE

log = logging.getLogger(__name__)


def open_migrated(
    url: str,
    *,
    cluster: str | None = None,
    retention_days: int = 0,
    verify: bool = True,
    ca_cert: Path | None = None,
    bounds: StoreBounds | None = None,
) -> Store:
    """Open the store and bring its tables and retention up to date."""
    store = Store.open(url, cluster=cluster, verify=verify, ca_cert=ca_cert, bounds=bounds)
    apply_migrations(store, cluster=cluster)
    apply_retention(store, retention_days, cluster=cluster)
    return store


def migrated_store(settings: Settings) -> Store:
    """`open_migrated` with everything the settings say about the store."""
    return open_migrated(
        settings.clickhouse_url,
        cluster=settings.clickhouse_cluster,
        retention_days=settings.retention_days,
        verify=settings.clickhouse_verify,
        ca_cert=settings.clickhouse_ca_cert,
        bounds=StoreBounds.from_settings(settings),
    )


def migration_files() -> list[tuple[str, str]]:
    """The versioned migrations shipped in `schemas/migrations`, in order: (version, sql)."""
    root = importlib.resources.files("schemas") / "migrations"
    files = sorted((p for p in root.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


def apply_migrations(store: Store, *, cluster: str | None = None) -> list[str]:
    """Apply pending migrations once each, in order; returns the versions applied.

    Idempotent: each migration's DDL uses IF NOT EXISTS, and applied versions
    are recorded, so two processes racing at start-up both end up correct.
    With `cluster`, each statement runs in its replicated/distributed form
    (`schemas.ddl.render`).
    """
    store.command(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
        "(version String, applied_at DateTime64(3, 'UTC')) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    versions = f"SELECT version FROM {MIGRATIONS_TABLE} FINAL"  # noqa: S608 - our constant
    done = {row[0] for row in store.query_rows(versions)}
    applied: list[str] = []
    for version, sql in migration_files():
        if version in done:
            continue
        statements = _statements(sql)
        for statement in statements:
            for rendered in ddl.render(statement, cluster):
                store.command(rendered)
        for statement in statements:
            if backfill := ddl.view_backfill(statement):
                _backfill(store, version, *backfill, done=done)
        _record(store, version)
        applied.append(version)
        log.info("applied migration %s", version)
    _add_stored_texts(store, cluster)
    return applied


def _add_stored_texts(store: Store, cluster: str | None) -> None:
    """Add the stored-text columns of a language the table lacks (`schemas/stored_texts.py`).

    Metadata only: rows inserted from then on get them computed at insert;
    parts written before compute them when read until `activitylog migrate`
    writes them (`schemas/rerender.py`). A language whose columns exist is
    left as it is, even if its expressions are stale: only `migrate` changes
    them, so processes of two versions starting side by side never flip them.
    """
    present = {
        str(row[0])
        for row in store.query_rows(
            "SELECT name FROM system.columns WHERE database = currentDatabase() "
            "AND table = {t:String}",
            {"t": ddl.data_table(cluster)},
        )
    }
    for lang in MATERIALIZED_LANGUAGES:
        if digest_column(lang) in present:
            continue
        for rendered in ddl.render(add_columns(lang), cluster):
            store.command(rendered)
        log.info("added the stored %s texts", lang)


def _record(store: Store, version: str) -> None:
    record = f"INSERT INTO {MIGRATIONS_TABLE} VALUES ({{v:String}}, now64(3))"  # noqa: S608
    store.command(record, parameters={"v": version})


def _backfill(store: Store, version: str, target: str, view_select: str, *, done: set[str]) -> None:
    """Copy the rows `activity` held before the view existed into `target`, month by month.

    The view already feeds every insert that started after it was created; a row
    both copied here and fed by the view is one key twice, which `target`'s
    ReplacingMergeTree collapses.
    """
    months_sql = (
        f"SELECT toYYYYMM(occurred_at) AS month, count() FROM {ACTIVITY_TABLE} "  # noqa: S608
        "GROUP BY month ORDER BY month"
    )
    months: list[tuple[int, int]] = [(int(m), int(n)) for m, n in store.query_rows(months_sql)]
    total = sum(n for _, n in months) or 1
    # A month can hold millions of rows: blocks of at most 32 MiB keep the copy
    # inside the per-query memory bound (ACTIVITYLOG_CLICKHOUSE_QUERY_MEMORY_BYTES).
    copy = (
        f"INSERT INTO {target} {view_select} WHERE toYYYYMM(occurred_at) = {{month:UInt32}} "
        "SETTINGS min_insert_block_size_bytes = 33554432"
    )
    copied, started = 0, time.monotonic()
    for number, (month, rows) in enumerate(months, start=1):
        step = f"{version}/{target}/{month}"
        if step not in done:
            store.command(copy, parameters={"month": month})
            _record(store, step)
        copied += rows
        elapsed = time.monotonic() - started
        log.info(
            "backfill %s: month %d (%d/%d), %d of %d rows (%.0f%%), %.0f s",
            target,
            month,
            number,
            len(months),
            copied,
            total,
            100 * copied / total,
            elapsed,
        )


def apply_retention(store: Store, days: int, *, cluster: str | None = None) -> None:
    """Make the tables' TTL match `ACTIVITYLOG_RETENTION_DAYS` (0 = keep everything).

    The access-path tables expire with `activity`, so they never point at a row it
    no longer holds. Changed only when it differs, since a TTL change rewrites data parts.
    """
    for table in ddl.RETAINED_TABLES:
        _retain(store, days, cluster, table)


def _retain(store: Store, days: int, cluster: str | None, name: str) -> None:
    table = ddl.data_table(cluster, name)
    rows = store.query_rows(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
        "AND name = {t:String}",
        {"t": table},
    )
    current = rows[0][0] if rows else ""
    has_ttl = " TTL " in current
    if days > 0 and f"toIntervalDay({days})" in current:
        return
    if days == 0 and not has_ttl:
        return
    store.command(ddl.retention_statement(days, cluster, name))
    log.info("%s retention set to %s", name, f"{days} days" if days else "keep everything")


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
