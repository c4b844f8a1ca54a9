"""Which readable texts an export written by ClickHouse reads: stored, or rendered in SQL.

Stored texts (`schemas/stored_texts.py`) cost a column read; rendering them
per row from the codes and `details` (`schemas/readable/sql.py`) costs
several microseconds a row. An export reads the stored texts of its language
when every row it selects holds texts of the running code's digest, and
renders them all in SQL otherwise (rows written before a catalog edit, a new
wording or by a worker of another version, until `activitylog migrate`
re-renders them).

The check is one query on the export's own filter, stopped at the first
stale row; the digest column is constant within a part, so it reads almost
nothing. A row a writer of another version inserts between the check and
the export would be served with texts this code does not write: the stored
path's WHERE fails the export on such a row instead (a store error; the
next try takes the SQL path), at the cost of one integer comparison per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from common.store import Store
from query.filters import ActivityFilter
from query.reads.slices import SLICE_ROWS, export_slices, month_filters
from schemas.activity import ACTIVITY_TABLE
from schemas.readable.sql import readable_sql
from schemas.stored_texts import digest_column, text_columns, texts_digest

DIGEST_PARAM: Final = "texts_digest"
# The message ClickHouse fails a stored-path export with when a stale row appears.
STALE_MESSAGE: Final = "stored texts changed during the export, retry it"


def stored_current(store: Store, flt: ActivityFilter, lang: str) -> bool:
    """True when every row `flt` selects holds `lang` texts of the running code's digest."""
    where, params = flt.where()
    key = flt.key_where()
    condition = f"PREWHERE {key} WHERE {where}" if key else f"WHERE {where}"
    rows = store.query_rows(
        f"SELECT 1 FROM {ACTIVITY_TABLE} {condition} "  # noqa: S608 - our constants, placeholders
        f"AND {digest_column(lang)} != {{{DIGEST_PARAM}:UInt64}} LIMIT 1",
        {**params, DIGEST_PARAM: texts_digest(lang)},
    )
    return not rows


def texts_sql(stored: bool, lang: str) -> dict[str, str]:
    """`{readable column: SQL}`: the stored columns, or the SQL rendering."""
    return text_columns(lang) if stored else readable_sql(lang)


def stale_guard(lang: str) -> str:
    """The stored path's WHERE condition: true on a current row, an error on a stale one."""
    digest = digest_column(lang)
    return f"NOT throwIf({digest} != {{{DIGEST_PARAM}:UInt64}}, '{STALE_MESSAGE}')"


def guarded(
    stored: bool, lang: str, where: str, params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """An export's WHERE and parameters, with the stale-row guard on the stored path."""
    if not stored:
        return where, params
    return f"({where}) AND {stale_guard(lang)}", {**params, DIGEST_PARAM: texts_digest(lang)}


def guarded_slices(
    store: Store, flt: ActivityFilter, stored: bool, lang: str, rows: int = SLICE_ROWS
) -> Iterator[tuple[str, dict[str, Any]]]:
    """`export_slices`, each slice's WHERE `guarded` as the export's texts need."""
    for where, params in export_slices(store, flt, rows):
        yield guarded(stored, lang, where, params)


def guarded_months(
    flt: ActivityFilter, stored: bool, lang: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """`month_filters`, each month's WHERE `guarded` as the export's texts need.

    A month's filter has the same clauses as `flt`, with its own range in the
    parameters, so `flt.key_where()` is every month's PREWHERE.
    """
    for month in month_filters(flt):
        yield guarded(stored, lang, *month.where())
