"""Re-render stored texts that are not the running code's, month by month (`activitylog migrate`).

A language's stored texts are stale in a row whose digest is not the running
code's (`schemas/stored_texts.py`): written before a catalog edit or a new
wording, or by a worker of another version. For another language than
English, a part written before its columns existed holds no texts at all
(ClickHouse computes them on every read). Exports stay correct meanwhile
(they render such rows in SQL); this makes them fast again:

* English: one mutation that sets the three texts from `readable_sql("en")`
  (proved equal to the worker's Python renderer) and the digest, where the
  digest differs;
* another language: its columns first take the running code's expressions
  (metadata: new rows get them at once), then one mutation materializes
  them in the months whose parts hold stale texts or none.

One mutation per language, not one per month: each costs the engine a few
seconds of scheduling however small it is. Its progress (parts left) is
logged while it runs.

Idempotent and resumable: the stale months are counted from the rows each
time, and ClickHouse keeps a mutation under way across a restart (even after
kill -9) and finishes it; a run first waits for unfinished mutations of the
table, then counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from common.store import Store
from schemas import ddl
from schemas.activity import ACTIVITY_TABLE
from schemas.readable.catalogs import LANGUAGES
from schemas.stored_texts import (
    WRITTEN_LANGUAGE,
    digest_column,
    modify_columns,
    stored_sql,
    text_columns,
    texts_digest,
)

log = logging.getLogger(__name__)

# How long to wait between two looks at unfinished mutations, and between two progress lines.
POLL_SECONDS: Final = 0.5
LOG_EVERY_SECONDS: Final = 5.0


@dataclass(frozen=True)
class Progress:
    """A re-render under way: the parts of `activity` its mutations still have to rewrite."""

    lang: str
    parts_left: int
    rows: int
    seconds: float


def rerender(
    store: Store,
    *,
    cluster: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> dict[str, int]:
    """Re-render every language's stale stored texts; `{lang: rows re-rendered}`."""
    return {lang: _rerender(store, cluster, lang, on_progress) for lang in LANGUAGES}


def _rerender(
    store: Store,
    cluster: str | None,
    lang: str,
    on_progress: Callable[[Progress], None] | None,
) -> int:
    if lang != WRITTEN_LANGUAGE:
        _current_expressions(store, cluster, lang)
    wait_for_mutations(store, cluster)
    months = stale_months(store, cluster, lang)
    rows = sum(count for _, count in months)
    if not months:
        return 0
    started = time.monotonic()
    log.info("re-rendering %s texts: %d rows in %d month(s)", lang, rows, len(months))
    for statement in ddl.render(_mutation(lang, [month for month, _ in months]), cluster):
        store.command(statement)

    def report(parts_left: int) -> None:
        step = Progress(lang, parts_left, rows, time.monotonic() - started)
        log.info("re-rendering %s texts: %d part(s) left, %.0f s", lang, parts_left, step.seconds)
        if on_progress is not None:
            on_progress(step)

    wait_for_mutations(store, cluster, report)
    log.info("re-rendered %s texts: %d rows, %.0f s", lang, rows, time.monotonic() - started)
    return rows


def stale_months(store: Store, cluster: str | None, lang: str) -> list[tuple[str, int]]:
    """(partition id, rows) of each month holding `lang` texts not known to be current.

    Rows counted without FINAL: a stale copy that FINAL would hide is
    re-rendered too. A month whose parts lack the language's columns (added
    after they were written) counts its rows whole.
    """
    digest = digest_column(lang)
    by_digest = store.query_rows(
        f"SELECT toString(toYYYYMM(occurred_at)) AS month, count() FROM {ACTIVITY_TABLE} "  # noqa: S608 - our constants
        f"WHERE {digest} != {{d:UInt64}} GROUP BY month",
        {"d": texts_digest(lang)},
    )
    months = {str(month): int(rows) for month, rows in by_digest}
    if lang != WRITTEN_LANGUAGE:
        for month, rows in _months_without(store, cluster, digest):
            months[month] = max(months.get(month, 0), rows)
    return sorted(months.items())


def _months_without(store: Store, cluster: str | None, column: str) -> list[tuple[str, int]]:
    """(partition id, rows) of the months with an active part not holding `column`."""
    table = ddl.data_table(cluster)
    return [
        (str(month), int(rows))
        for month, rows in store.query_rows(
            "SELECT partition_id, sum(rows) FROM system.parts "
            "WHERE database = currentDatabase() AND table = {t:String} AND active "
            "GROUP BY partition_id HAVING countIf(name NOT IN ("
            "SELECT name FROM system.parts_columns WHERE database = currentDatabase() "
            "AND table = {t:String} AND active AND column = {c:String})) > 0",
            {"t": table, "c": column},
        )
    ]


def _current_expressions(store: Store, cluster: str | None, lang: str) -> None:
    """Give `lang`'s MATERIALIZED columns the running code's expressions, if they differ."""
    rows = store.query_rows(
        "SELECT default_expression FROM system.columns WHERE database = currentDatabase() "
        "AND table = {t:String} AND name = {c:String}",
        {"t": ddl.data_table(cluster), "c": digest_column(lang)},
    )
    if rows and str(rows[0][0]) == str(texts_digest(lang)):
        return
    for statement in ddl.render(modify_columns(lang), cluster):
        store.command(statement)
    log.info("%s texts: the stored columns take the current catalog's expressions", lang)


def _mutation(lang: str, months: list[str]) -> str:
    """The ALTER that re-renders `lang`'s stale texts (`months`: the partitions holding them)."""
    digest = digest_column(lang)
    if lang == WRITTEN_LANGUAGE:
        sql = stored_sql(lang)
        sets = ", ".join(f"{column} = {sql[name]}" for name, column in text_columns(lang).items())
        value = texts_digest(lang)
        return (
            f"ALTER TABLE {ACTIVITY_TABLE} UPDATE {sets}, {digest} = {value} "
            f"WHERE {digest} != {value}"
        )
    columns = [*text_columns(lang).values(), digest]
    clauses = ", ".join(
        f"MATERIALIZE COLUMN {column} IN PARTITION ID '{int(month)}'"
        for month in months
        for column in columns
    )
    return f"ALTER TABLE {ACTIVITY_TABLE} {clauses}"


def wait_for_mutations(
    store: Store, cluster: str | None, report: Callable[[int], None] | None = None
) -> None:
    """Return once no mutation of the activity table is unfinished (one left by a kill -9
    included), calling `report(parts left)` every `LOG_EVERY_SECONDS` meanwhile."""
    table = ddl.data_table(cluster)
    last = time.monotonic()
    while True:
        rows = store.query_rows(
            "SELECT count(), sum(parts_to_do), any(latest_fail_reason) FROM system.mutations "
            "WHERE database = currentDatabase() AND table = {t:String} AND NOT is_done",
            {"t": table},
        )
        count, parts, reason = rows[0]
        if not count:
            return
        if reason:
            log.warning("a mutation of %s keeps failing: %s", table, reason)
        if time.monotonic() - last >= LOG_EVERY_SECONDS:
            last = time.monotonic()
            if report is not None:
                report(int(parts))
            else:
                log.info("waiting for %d unfinished mutation(s) of %s", count, table)
        time.sleep(POLL_SECONDS)
