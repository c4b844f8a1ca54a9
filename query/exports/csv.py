"""CSV that opens right in Excel (docs/contracts.md, Exports that open right in Excel).

UTF-8 with BOM, CRLF, RFC 4180 quoting, the header row and the readable
cells in the export's language (`query/exports/cells.py`), and every cell
that a spreadsheet would read as a formula neutralized (OWASP CSV
injection: a leading `'`).

Two encoders with one output contract: `stream_csv` lets ClickHouse write
the bytes (`FORMAT CSV`, with the readable texts read from their stored
columns or rendered in SQL, `query/exports/texts.py`, and the
neutralization and the date done in SQL), which keeps a long
export's memory flat and no Python on a row; `csv_chunks` is the
pure-Python encoder of cells already rendered (`export_cells`), for rows in
hand and as the reference the tests compare the SQL output against.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from common.store import RecordChunks, Store
from query.exports.cells import CELL_COLUMNS, format_date, header_row
from query.exports.texts import guarded_months, guarded_slices, stored_current, texts_sql
from query.filters import ActivityFilter
from query.reads.columns import export_query

BOM = "\ufeff"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")

ROWS_PER_CHUNK = 2000
CSV_SETTINGS = "output_format_csv_crlf_end_of_line = 1"
# The delimiters a CSV export may use: `,` (RFC 4180), or `;`, the list separator of
# French (and most continental) Excel, which splits a double-clicked CSV on it.
DELIMITERS: dict[str, str] = {",": "format_csv_delimiter = ','", ";": "format_csv_delimiter = ';'"}
# In SQL: the formula prefixes as a ClickHouse string literal (escapes \t \r \n).
_PREFIXES_SQL = r"'=+-@\t\r\n'"


def neutralize(cell: str) -> str:
    """Prefix `'` to a cell a spreadsheet would evaluate as a formula."""
    if cell and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def neutralize_sql(column: str, expression: str | None = None) -> str:
    """SQL computing `neutralize(column)` (`column` is one of our identifiers).

    With `expression`, `column` is the alias it is computed under, once: the
    readable cells are long expressions that must not be written three times.
    """
    first = f"({expression}) AS {column}" if expression else column
    return (
        f"if(notEmpty({first}) AND position({_PREFIXES_SQL}, substring({column}, 1, 1)) > 0, "
        f"concat('\\'', {column}), {column})"
    )


def header_bytes(lang: str, delimiter: str = ",") -> bytes:
    """BOM + the header row, CRLF-terminated."""
    buffer = io.StringIO()
    buffer.write(BOM)
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(header_row(lang))
    return buffer.getvalue().encode("utf-8")


def csv_select(lang: str = "en", *, stored: bool = False) -> str:
    """The SELECT list whose `FORMAT CSV` rows carry exactly `export_cells`' cells, encoded.

    `stored`: read the texts stored in `lang` (`query/exports/texts.py`),
    else render them in SQL.
    """
    date = "concat(replaceOne(toString(occurred_at), ' ', 'T'), 'Z')"
    readable = texts_sql(stored, lang)
    cells = [
        neutralize_sql(f"csv_{c}", readable[c]) if c in readable else neutralize_sql(c)
        for c in CELL_COLUMNS
    ]
    return ", ".join([date, *cells])


def stream_csv(
    store: Store,
    flt: ActivityFilter,
    lang: str = "en",
    *,
    sliced: bool | None = None,
    delimiter: str = ",",
) -> Iterator[bytes]:
    """The export as CSV bytes written by ClickHouse itself.

    Every string cell is double-quoted (RFC 4180 allows it: quotes doubled,
    newlines kept inside the quotes) and rows end with CRLF. An embedded
    store streams one query per month (`month_filters`) on a connection of
    its own, as `RecordChunks` (the header goes out with the first rows, and
    counts as a record); a server (or `sliced=True`) runs one bounded query
    per key-range slice on the shared client. `delimiter` is one of
    `DELIMITERS`. A bad `lang` raises at the call.
    """
    header = header_bytes(lang, delimiter)  # a bad `lang` raises here, before the SQL is built
    stored = stored_current(store, flt, lang)
    select = csv_select(lang, stored=stored)
    key = flt.key_where()
    settings = (CSV_SETTINGS, DELIMITERS[delimiter])
    if sliced is None:
        sliced = store.location.mode != "embedded"
    if not sliced:
        months = (
            (export_query(select, where, *settings, prewhere=key), params)
            for where, params in guarded_months(flt, stored, lang)
        )
        return RecordChunks(_after_header(header, store.stream_formatted_each(months, "CSV")))
    chunks = (
        store.query_formatted(export_query(select, where, *settings, prewhere=key), params, "CSV")
        for where, params in guarded_slices(store, flt, stored, lang)
    )
    return _sliced_with_header(header, chunks)


def _after_header(header: bytes, blocks: RecordChunks) -> Iterator[tuple[bytes, int]]:
    """The header with the first block (a store error on the first rows comes first)."""
    try:
        for chunk in blocks:
            if header:
                chunk, header = header + chunk, b""
                yield chunk, blocks.records + 1
            else:
                yield chunk, blocks.records
        if header:
            yield header, 1
    finally:
        blocks.close()


def _sliced_with_header(header: bytes, chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = header
    for chunk in chunks:
        if pending:
            chunk, pending = pending + chunk, b""
        if chunk:
            yield chunk
    if pending:
        yield pending


def csv_chunks(
    rows: Iterable[Sequence[Any]], lang: str = "en", delimiter: str = ","
) -> Iterator[bytes]:
    """Encode rows of cells (`occurred_at`, then `CELL_COLUMNS`) as CSV bytes, chunk by chunk."""
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL
    )
    buffer.write(BOM)
    writer.writerow(header_row(lang))
    for count, row in enumerate(rows, start=1):
        writer.writerow([format_date(row[0]), *(neutralize(str(v)) for v in row[1:6])])
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    tail = buffer.getvalue()
    if tail:
        yield tail.encode("utf-8")
