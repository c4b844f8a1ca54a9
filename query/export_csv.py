"""CSV that opens right in Excel (design §6), streamed block by block.

UTF-8 with BOM, CRLF, RFC 4180 quoting, a header row in English or French,
and every cell that a spreadsheet would read as a formula neutralized
(OWASP CSV injection: a leading `'`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from activitylog.errors import BadQuery

BOM = "\ufeff"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")

HEADERS: dict[str, tuple[str, ...]] = {
    "en": (
        "Date (UTC)",
        "Affected customer",
        "Action",
        "Partner user",
        "Status",
        "Additional information",
    ),
    "fr": (
        "Date (UTC)",
        "Client affecté",
        "Action",
        "Utilisateur partenaire",
        "État",
        "Informations supplémentaires",
    ),
}
OPTIONAL_HEADERS: dict[str, dict[str, str]] = {
    "en": {"customer_id": "Customer id", "event_id": "Event id"},
    "fr": {"customer_id": "ID client", "event_id": "ID événement"},
}
ROWS_PER_CHUNK = 2000


def neutralize(cell: str) -> str:
    """Prefix `'` to a cell a spreadsheet would evaluate as a formula."""
    if cell and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def format_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return str(value)


def header_row(lang: str, extra: Iterable[str] = ()) -> list[str]:
    if lang not in HEADERS:
        raise BadQuery("lang", f"unknown language {lang!r} (use en or fr)")
    return [*HEADERS[lang], *(OPTIONAL_HEADERS[lang][c] for c in extra)]


def csv_chunks(
    rows: Iterable[tuple[Any, ...]], lang: str = "en", extra: tuple[str, ...] = ()
) -> Iterator[bytes]:
    """Encode export rows (`query.reads.EXPORT_COLUMNS` order) as CSV bytes, chunk by chunk.

    `extra` names the optional columns (`customer_id`, `event_id`) to append.
    """
    for name in extra:
        if name not in OPTIONAL_HEADERS["en"]:
            raise BadQuery("columns", f"unknown optional column {name!r}")
    picks = [6 + ("customer_id", "event_id").index(name) for name in extra]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    buffer.write(BOM)
    writer.writerow(header_row(lang, extra))
    for count, row in enumerate(rows, start=1):
        cells = [format_date(row[0]), *(neutralize(str(v)) for v in row[1:6])]
        cells.extend(neutralize(str(row[i])) for i in picks)
        writer.writerow(cells)
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    tail = buffer.getvalue()
    if tail:
        yield tail.encode("utf-8")
