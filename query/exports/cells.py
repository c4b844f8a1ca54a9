"""The readable cells of an export, one definition for every format that has them.

A CSV row (and any spreadsheet format) is the date in UTC and five readable
cells: `CELL_COLUMNS`, headed by `header_row(lang)`. `export_cells` renders
them in Python from a stored row's `CELL_SOURCES`; the CSV export writes the
same cells in SQL (`schemas/readable/sql.py`), and its tests compare
the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from common.timefmt import iso_utc
from schemas.readable.catalogs import check_language, message
from schemas.readable.render import READABLE_SOURCES, render

# The five cells after the date, in the seed's order.
CELL_COLUMNS: Final[tuple[str, ...]] = (
    "customer_name",
    "action_text",
    "partner_user",
    "status_text",
    "additional_info",
)
# The stored columns the cells are made from.
CELL_SOURCES: Final[tuple[str, ...]] = (
    "occurred_at",
    "customer_name",
    "partner_user",
    *READABLE_SOURCES,
)


def header_row(lang: str) -> list[str]:
    """The header of the date and the five cells in `lang` (a BadQuery for an unknown one)."""
    check_language(lang)
    return [message(lang, f"column.{name}") or name for name in ("date", *CELL_COLUMNS)]


def format_date(value: Any) -> str:
    """The date cell: UTC ISO 8601 with milliseconds, the same in every language."""
    return iso_utc(value) if isinstance(value, datetime) else str(value)


def export_cells(row: Mapping[str, Any], lang: str) -> list[str]:
    """The date and the five readable cells of a stored row (`CELL_SOURCES`), in `lang`."""
    texts = render(row, lang)
    return [
        format_date(row["occurred_at"]),
        row["customer_name"],
        texts.action_text,
        row["partner_user"],
        texts.status_text,
        texts.additional_info,
    ]
