"""Re-render stored texts that are not the running code's, month by month (`activitylog migrate`).

A language's stored texts are stale in a row whose digest is not the running
code's (`schemas/stored_texts.py`): written before a catalog edit or a new
wording, or by a worker of another version. For another language than
English, a part written before its columns existed holds no texts at all
(ClickHouse computes them on every read). Exports stay correct meanwhile
(they render such rows in SQL); this makes them fast again:

* English: a mutation per month of `occurred_at` that sets the three texts
  from `readable_sql("en")` (proved equal to the worker's Python renderer)
  and the digest, only where the digest differs;
* another language: its columns first take the running code's expressions
  (metadata: new rows get them at once), then a mutation per month
  materializes them in the parts written before.

Idempotent and resumable: the stale months are counted from the rows each
time, a month done is not touched again, and ClickHouse keeps a mutation
under way across a restart (even after kill -9) and finishes it; a run waits
for unfinished mutations of the table before it counts.
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

# How long to wait between two looks at unfinished mutations.
POLL_SECONDS: Final = 1.0
# Wait for each month's mutation to finish on every replica before the next.
_SYNC: Final = "SETTINGS mutations_sync = 2"


@dataclass(frozen=True)
class Progress:
    """One month of one language re-rendered."""

    lang: str
    month: str
    number: int
    months: int
    rows: int
    done_rows: int
    total_rows: int
    seconds: float


def rerender(
    store: Store,
    *,
    cluster: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> dict[str, int]:
    """Re-render every language's stale stored texts; `{lang: rows re-rendered}`."""
    done: dict[str, int] = {}
    for lang in LANGUAGES:
        if lang != WRITTEN_LANGUAGE:
            _current_expressions(store, cluster, lang)
        wait_for_mutations(store, cluster)
        months = stale_months(store, cluster, lang)
        total = sum(rows for _, rows in months)
        started, copied = time.monotonic(), 0
        for number, (month, rows) in enumerate(months, start=1):
            for statement in ddl.render(_mutation(lang, month), cluster):
                store.command(statement)
            copied += rows
            step = Progress(
                lang, month, number, len(months), rows, copied, total, time.monotonic() - started
            )
            log.info(
                "re-rendered %s texts: month %s (%d/%d), %d of %d rows, %.0f s",
                lang,
                month,
                number,
                len(months),
                copied,
                total,
                step.seconds,
            )
            if on_progress is not None:
                on_progress(step)
        done[lang] = total
    return done


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


def _mutation(lang: str, month: str) -> str:
    """The ALTER that re-renders `lang`'s texts in one month's partition."""
    partition = f"IN PARTITION ID '{int(month)}'"
    digest = digest_column(lang)
    if lang == WRITTEN_LANGUAGE:
        sql = stored_sql(lang)
        sets = ", ".join(f"{column} = {sql[name]}" for name, column in text_columns(lang).items())
        value = texts_digest(lang)
        return (
            f"ALTER TABLE {ACTIVITY_TABLE} UPDATE {sets}, {digest} = {value} "
            f"{partition} WHERE {digest} != {value} {_SYNC}"
        )
    columns = [*text_columns(lang).values(), digest]
    clauses = ", ".join(f"MATERIALIZE COLUMN {c} {partition}" for c in columns)
    return f"ALTER TABLE {ACTIVITY_TABLE} {clauses} {_SYNC}"


def wait_for_mutations(store: Store, cluster: str | None) -> None:
    """Return once no mutation of the activity table is unfinished (one left by a kill -9)."""
    table = ddl.data_table(cluster)
    logged = False
    while True:
        rows = store.query_rows(
            "SELECT count(), sum(parts_to_do), any(latest_fail_reason) FROM system.mutations "
            "WHERE database = currentDatabase() AND table = {t:String} AND NOT is_done",
            {"t": table},
        )
        count, parts, reason = rows[0]
        if not count:
            return
        if not logged:
            log.info(
                "waiting for %d unfinished mutation(s) of %s, %d part(s) to do", count, table, parts
            )
            logged = True
        if reason:
            log.warning("a mutation of %s keeps failing: %s", table, reason)
        time.sleep(POLL_SECONDS)
