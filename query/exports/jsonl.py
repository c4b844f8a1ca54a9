"""JSON Lines export: one activity record per line, `details` as nested JSON.

Streams slice by slice (`query.reads.slices.export_slices`), so memory stays flat.
The stored `details` text is already JSON written by the normalizer, so it
is embedded as is (`orjson.Fragment`) instead of parsed and re-encoded. The
readable texts in the export's language are read from their stored columns
when those are current (`query/exports/texts.py`), else rendered here
(`schemas/readable`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson

from common.store import Store
from common.timefmt import iso_utc
from query.exports.texts import guarded_slices, stored_current
from query.filters import ActivityFilter
from query.reads.columns import RECORD_COLUMNS, export_query
from query.reads.records import json_or_text
from schemas.readable.render import READABLE_SOURCES, render
from schemas.stored_texts import text_columns

# Rows per slice: the rows are Python objects here, so smaller than the CSV's.
SLICE_ROWS = 20_000


def record_line(
    names: tuple[str, ...], row: tuple[Any, ...], lang: str = "en", *, rendered: bool = False
) -> bytes:
    """One stored row as a JSON line, readable texts in `lang` (pure; `names` name the row).

    `rendered`: the row's readable columns already hold the texts in `lang`.
    """
    stored = dict(zip(names, row, strict=True))
    renderable = not rendered and all(name in stored for name in READABLE_SOURCES)
    readable = render(stored, lang).as_dict() if renderable else {}
    record: dict[str, Any] = {}
    for name, value in stored.items():
        if name == "details":
            record[name] = _details(value)
        elif name in readable:
            record[name] = readable[name]
        elif isinstance(value, datetime):
            record[name] = iso_utc(value)
        else:
            record[name] = value
    return orjson.dumps(record) + b"\n"


def _details(text: str) -> Any:
    if not text:
        return None
    # Never trust stored text blindly: a line must stay valid JSON, so text that
    # is not JSON goes out as a string.
    return text if json_or_text(text) is text else orjson.Fragment(text)


def stream_jsonl(store: Store, flt: ActivityFilter, lang: str = "en") -> Iterator[bytes]:
    """The export as JSONL bytes, one slice (`SLICE_ROWS` rows) per chunk."""
    stored = stored_current(store, flt, lang)
    texts = text_columns(lang) if stored else {}
    columns = ", ".join(f"{texts[c]} AS {c}" if c in texts else c for c in RECORD_COLUMNS)
    for where, params in guarded_slices(store, flt, stored, lang, SLICE_ROWS):
        rows = store.query_rows(export_query(columns, where, prewhere=flt.key_where()), params)
        if rows:
            yield b"".join(record_line(RECORD_COLUMNS, row, lang, rendered=stored) for row in rows)
