"""Reading and writing the destinations table, for the API (`query/`) and the agent (`processors/`).

A change is a new row; the newest `updated_at` of a destination wins (LIMIT 1 BY), so a
read never depends on when ClickHouse merges.
"""

from __future__ import annotations

from common.store import Store
from schemas.destinations import (
    DESTINATION_COLUMNS,
    STATE_DELETED,
    Destination,
    destination_from_row,
    destination_to_row,
)
from schemas.tables import DESTINATIONS_TABLE

_LATEST = (
    f"SELECT {', '.join(DESTINATION_COLUMNS)} FROM {DESTINATIONS_TABLE} "  # noqa: S608 - constants
    "WHERE ({partner:Nullable(String)} IS NULL OR partner_id = {partner:Nullable(String)}) "
    "AND ({id:Nullable(String)} IS NULL OR destination_id = {id:Nullable(String)}) "
    "ORDER BY partner_id, destination_id, updated_at DESC LIMIT 1 BY partner_id, destination_id"
)


def write_destination(store: Store, destination: Destination) -> None:
    """Record `destination` as it is now (a new row; the newest wins)."""
    columns = [[value] for value in destination_to_row(destination)]
    store.insert_columns(DESTINATIONS_TABLE, columns, DESTINATION_COLUMNS)


def read_destinations(
    store: Store, partner_id: str | None = None, *, include_deleted: bool = False
) -> list[Destination]:
    """Every destination (of `partner_id` when given), newest state, by partner and id."""
    rows = store.query_dicts(_LATEST, {"partner": partner_id, "id": None})
    found = [destination_from_row(row) for row in rows]
    return [d for d in found if include_deleted or d.state != STATE_DELETED]


def read_destination(store: Store, destination_id: str) -> Destination | None:
    """One destination by id, whatever its partner (the caller checks the scope)."""
    rows = store.query_dicts(_LATEST, {"partner": None, "id": destination_id})
    return destination_from_row(rows[0]) if rows else None
