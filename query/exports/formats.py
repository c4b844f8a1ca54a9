"""The export formats in one table: names, media types, file extensions, columns, encoders.

The API and the CLI both go through `export_bytes`, so a format added here
is available everywhere with the same validation and the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from common.errors import BadQuery
from common.store import Store
from query.exports.cells import header_row
from query.exports.csv import stream_csv
from query.exports.jsonl import stream_jsonl
from query.exports.parquet import PARQUET_SELECT, stream_parquet
from query.exports.xlsx import stream_xlsx, xlsx_header
from query.filters import ActivityFilter
from query.reads.columns import RECORD_COLUMNS
from schemas.readable.catalogs import check_language

# `csv-fr`: the CSV with `;` between cells, which French Excel splits a double-clicked
# file on (its list separator); a format of its own, so the manifest's `format` alone
# says how to read the file back.
EXPORT_FORMATS: Final = ("csv", "parquet", "jsonl", "xlsx", "csv-fr")
EXPORT_MEDIA_TYPES: Final = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv-fr": "text/csv; charset=utf-8",
}
EXPORT_EXTENSIONS: Final = {fmt: "csv" if fmt == "csv-fr" else fmt for fmt in EXPORT_FORMATS}
# The cell delimiter of each CSV format.
CSV_DELIMITERS: Final = {"csv": ",", "csv-fr": ";"}


def check_export(fmt: str, lang: str) -> None:
    """Raise BadQuery for an unknown format or language."""
    if fmt not in EXPORT_FORMATS:
        raise BadQuery("format", f"unknown format {fmt!r} (use {', '.join(EXPORT_FORMATS)})")
    check_language(lang)


def export_columns(fmt: str, lang: str, tz: str = "UTC") -> list[str]:
    """The column names a file of `fmt` carries (the header in `lang`), for its manifest."""
    if fmt in CSV_DELIMITERS:
        return header_row(lang)
    if fmt == "xlsx":
        return xlsx_header(lang, tz)
    if fmt == "parquet":
        return [name for name, _ in PARQUET_SELECT]
    return list(RECORD_COLUMNS)


def export_bytes(store: Store, flt: ActivityFilter, fmt: str, lang: str = "en") -> Iterator[bytes]:
    """The export's bytes, chunk by chunk (about one 50k-row slice each)."""
    check_export(fmt, lang)
    if fmt in CSV_DELIMITERS:
        return stream_csv(store, flt, lang, delimiter=CSV_DELIMITERS[fmt])
    if fmt == "xlsx":
        return stream_xlsx(store, flt, lang)
    if fmt == "parquet":
        return stream_parquet(store, flt, lang)
    return stream_jsonl(store, flt, lang)
