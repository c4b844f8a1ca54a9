"""Parquet export with real types: timestamps, strings, nested details.

The contract: docs/contracts.md, Exports that open right in Excel.

ClickHouse hands each slice over as Arrow (`query_arrow`), already typed:
`occurred_at` a UTC timestamp, an order's `line_items` a list of structs
extracted from its details in SQL, the free-form `details` a JSON-typed
column (Parquet's JSON logical type). Each slice becomes one row group,
written to the response as soon as it is encoded, so memory stays flat;
the footer follows the last group. The readable columns (`action_text`,
`status_text`, `additional_info`) in the export's language are read from
their stored columns when those are current (`query/exports/texts.py`),
else rendered in Python from the slice's own codes and details
(`schemas/readable`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from common.store import Store
from query.exports.sink import ByteSink
from query.exports.texts import guarded_slices, stored_current
from query.filters import ActivityFilter
from query.reads.columns import export_query
from schemas.readable.render import READABLE_COLUMNS, READABLE_SOURCES, render
from schemas.stored_texts import text_columns

_LINE_ITEM_FIELDS: tuple[tuple[str, str], ...] = (
    ("product_name", "String"),
    ("quantity", "Int64"),
    ("offer_id", "Nullable(String)"),
    ("sku", "Nullable(String)"),
    ("unit_price", "Nullable(String)"),
    ("subscription_id", "Nullable(String)"),
    ("term", "Nullable(String)"),
    ("billing_cycle", "Nullable(String)"),
)
_LINE_ITEMS_TYPE = "Array(Tuple({}))".format(", ".join(f"{n} {t}" for n, t in _LINE_ITEM_FIELDS))

# (column name, SQL expression); identifiers and literals are our constants.
# `activity.details` is spelled out: ClickHouse would otherwise resolve
# `details` to this SELECT's own (Nullable) alias of it.
PARQUET_SELECT: tuple[tuple[str, str], ...] = (
    ("event_id", "event_id"),
    ("occurred_at", "occurred_at"),
    ("partner_id", "toString(partner_id)"),
    ("customer_id", "customer_id"),
    ("customer_name", "customer_name"),
    ("kind", "toString(kind)"),
    ("action", "toString(action)"),
    ("action_text", "action_text"),
    ("partner_user", "partner_user"),
    ("status", "toString(status)"),
    ("status_text", "status_text"),
    ("additional_info", "additional_info"),
    ("resource_type", "toString(resource_type)"),
    ("resource_id", "resource_id"),
    ("resource_name", "resource_name"),
    ("order_id", "order_id"),
    ("correlation_id", "correlation_id"),
    (
        "currency",
        "if(kind = 'order', JSONExtract(activity.details, 'currency', 'Nullable(String)'), NULL)",
    ),
    (
        "line_items",
        "JSONExtract(if(kind = 'order', activity.details, '{}'), 'line_items', "
        f"'{_LINE_ITEMS_TYPE}')",
    ),
    ("details", "if(activity.details = '', NULL, activity.details)"),
)
ROW_GROUP_ROWS = 20_000


def parquet_schema() -> Any:
    """The file's fixed schema, so every row group agrees whatever a slice holds."""
    import pyarrow as pa

    line_item = pa.struct(
        [
            pa.field("product_name", pa.string(), nullable=False),
            pa.field("quantity", pa.int64(), nullable=False),
            *(pa.field(name, pa.string()) for name, _ in _LINE_ITEM_FIELDS[2:]),
        ]
    )
    fields = [pa.field(name, pa.string(), nullable=False) for name, _ in PARQUET_SELECT]
    by_name = {f.name: f for f in fields}
    by_name["occurred_at"] = pa.field("occurred_at", pa.timestamp("ms", tz="UTC"), nullable=False)
    by_name["currency"] = pa.field("currency", pa.string())
    by_name["line_items"] = pa.field("line_items", pa.list_(line_item), nullable=False)
    by_name["details"] = pa.field("details", pa.json_(pa.string()))
    return pa.schema([by_name[name] for name, _ in PARQUET_SELECT])


def stream_parquet(store: Store, flt: ActivityFilter, lang: str = "en") -> Iterator[bytes]:
    """The export as a Parquet file, one row group per slice, bytes as they are written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    stored = stored_current(store, flt, lang)
    texts = text_columns(lang) if stored else {}
    select = ", ".join(f"{texts.get(name, expr)} AS {name}" for name, expr in PARQUET_SELECT)
    sink = ByteSink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        for where, params in guarded_slices(store, flt, stored, lang, ROW_GROUP_ROWS):
            table = store.query_arrow(export_query(select, where, prewhere=flt.key_where()), params)
            if table.num_rows == 0:
                continue
            if not stored:
                table = _readable(table, lang, pa)
            writer.write_table(_conform(table, schema, pa))
            yield sink.take()
    finally:
        writer.close()
    yield sink.take()


def _readable(table: Any, lang: str, pa: Any) -> Any:
    """The slice with its readable columns rendered in `lang` from its codes and details."""
    sources = {name: table.column(name).to_pylist() for name in READABLE_SOURCES}
    texts: dict[str, list[str]] = {name: [] for name in READABLE_COLUMNS}
    for stored in zip(*sources.values(), strict=True):
        row = dict(zip(READABLE_SOURCES, stored, strict=True))
        row["details"] = row["details"] or ""  # read as NULL when empty
        for name, text in render(row, lang).as_dict().items():
            texts[name].append(text)
    for name, rendered in texts.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pa.array(rendered, pa.string()))
    return table


def _conform(table: Any, schema: Any, pa: Any) -> Any:
    """Cast a slice to the file schema (ClickHouse's nullability and the JSON type differ)."""
    columns = []
    for field in schema:
        column = table.column(field.name)
        if field.name == "details":
            storage = column.cast(pa.string())
            chunks = [pa.ExtensionArray.from_storage(field.type, c) for c in storage.chunks]
            columns.append(pa.chunked_array(chunks, type=field.type))
        else:
            columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)
