"""The page's customer-name filter through the names table, when that reads less.

Filtered by `customer` (a substring of the name), the page's read of
`activity` in its key order keeps the rows whose name holds the text; a name
that sits in fewer rows than a page makes it read the names of every row in
the range, and a granule of 8,192 rows for each row it keeps. This path reads
what the matches are instead (docs/architecture.md, Access paths):

1. the customer ids of the partner whose name holds the text, from
   `activity_customer_names` (sorted by partner, then name): one row per name
   and customer once merged;
2. the newest event ids of those customers in the range, from
   `activity_by_customer` (sorted by customer id), with the page's filter;
3. those events' rows from `activity_records` (sorted by event id, in granules
   of 1,024 rows), with the page's filter again, in the page's order.

Three short queries, each read by its table's key.

It applies when every condition of the filter is on a column that
`activity_by_customer` holds (not `partner_user` or `q`), and when the text
names at most `MAX_NAMED_CUSTOMERS` customers: a text common to more names is
common to many rows, and the read in key order finds a page of them at once.
Copies of an event are in every table, as in `activity`: the page collapses
them as it does its own read's.
"""

from __future__ import annotations

from typing import Any, Final

from common.store import Store
from query.filters import ActivityFilter
from schemas.tables import BY_CUSTOMER_TABLE, NAMES_TABLE, RECORDS_TABLE

# Above this many customers the text is common enough for the read in key order.
MAX_NAMED_CUSTOMERS: Final = 200
NAMED_IDS_PARAM: Final = "named_customer_ids"
NAMED_EVENTS_PARAM: Final = "named_event_ids"


def named_customers(store: Store, flt: ActivityFilter) -> list[str] | None:
    """The ids of the customers whose name in `flt`'s scope holds `flt.customer`.

    None when this path does not apply: no name filter, a condition that
    `activity_by_customer` cannot evaluate, or more than `MAX_NAMED_CUSTOMERS`.
    """
    if not flt.customer or flt.partner_user or flt.q:
        return None
    clauses = [
        # A name's row keeps the latest occurred_at of the rows that carry it (once
        # merged; before, one row per activity row): a name last seen before the
        # range has no row in it.
        "occurred_at >= {start:DateTime64(3, 'UTC')}",
        "positionCaseInsensitiveUTF8(customer_name, {customer:String}) > 0",
    ]
    params: dict[str, Any] = {"start": flt.range.start, "customer": flt.customer}
    if flt.partner_id is not None:
        clauses.insert(0, "partner_id = {partner_id:String}")
        params["partner_id"] = flt.partner_id
    if flt.customer_id:
        clauses.append("customer_id = {customer_id:String}")
        params["customer_id"] = flt.customer_id
    rows = store.query_rows(
        f"SELECT DISTINCT customer_id FROM {NAMES_TABLE} "  # noqa: S608 - our constants
        f"WHERE {' AND '.join(clauses)} LIMIT {MAX_NAMED_CUSTOMERS + 1}",
        params,
    )
    if len(rows) > MAX_NAMED_CUSTOMERS:
        return None
    return sorted(str(row[0]) for row in rows)


def named_events_sql(where: str, limit: int) -> str:
    """The newest `limit` event ids of the customers `NAMED_IDS_PARAM` that `where` (the
    page's own clause, with its cursor) keeps, each copy of an event once."""
    return (
        f"SELECT event_id FROM {BY_CUSTOMER_TABLE} "  # noqa: S608 - our constants
        f"WHERE customer_id IN {{{NAMED_IDS_PARAM}:Array(String)}} AND {where} "
        f"GROUP BY occurred_at, event_id ORDER BY occurred_at DESC, event_id DESC "
        f"LIMIT {int(limit)}"
    )


def named_rows_sql(columns: str, where: str, window: int) -> str:
    """The rows of the events `NAMED_EVENTS_PARAM` that `where` keeps, in the page's order.

    The ids go as a constant set, not as `named_events_sql` in a subquery: the key then
    selects the granules of exactly these ids (on 1M rows, 4 ms instead of 17).
    """
    return (
        f"SELECT {columns} FROM {RECORDS_TABLE} "  # noqa: S608 - our constants
        f"WHERE event_id IN {{{NAMED_EVENTS_PARAM}:Array(String)}} AND {where} "
        f"ORDER BY occurred_at DESC, event_id DESC LIMIT {int(window)}"
    )
