"""Pure parts of the exports: format checks, the SQL cell expressions, JSONL lines, the schema."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pyarrow as pa
import pytest

from activitylog.cli.progress import human_size
from common.errors import BadQuery
from query.exports.cells import header_row
from query.exports.csv import BOM, csv_select, header_bytes, neutralize_sql
from query.exports.formats import EXPORT_FORMATS, EXPORT_MEDIA_TYPES, check_export
from query.exports.jsonl import record_line
from query.exports.parquet import PARQUET_SELECT, parquet_schema
from query.filters import ActivityFilter
from query.ranges import TimeRange
from query.reads.slices import month_filters


@pytest.mark.parametrize(("fmt", "lang"), [("xls", "en"), ("CSV", "en"), ("csv", "de"), ("", "en")])
def test_unknown_formats_and_languages_are_bad_queries(fmt: str, lang: str) -> None:
    with pytest.raises(BadQuery) as info:
        check_export(fmt, lang)
    assert info.value.param == ("format" if fmt != "csv" else "lang")


def test_every_format_has_a_media_type() -> None:
    for fmt in EXPORT_FORMATS:
        check_export(fmt, "fr")
        assert EXPORT_MEDIA_TYPES[fmt]


def test_header_is_bom_then_one_crlf_row() -> None:
    data = header_bytes("fr")
    text = data.decode("utf-8")
    assert text.startswith(BOM) and text.endswith("\r\n") and text.count("\r\n") == 1
    row = next(csv.reader(io.StringIO(text[1:])))
    assert row == header_row("fr")
    assert row[1:] == [
        "Client affecté",
        "Action",
        "Utilisateur partenaire",
        "État",
        "Informations supplémentaires",
    ]


def test_the_sql_neutralizes_every_text_column_and_only_names_our_columns() -> None:
    for lang in ("en", "fr"):
        select = csv_select(lang)
        for column in ("customer_name", "partner_user"):
            assert neutralize_sql(column) in select
        for column in ("action_text", "status_text", "additional_info"):
            assert f") AS csv_{column}) AND position(" in select
        # What the SQL does to each dangerous lead is checked by running it in ClickHouse
        # (tests/integration/test_fuzz_csv_sql.py), not by reading its text here.
        assert "payload" not in select


def test_a_jsonl_line_keeps_details_as_json_and_dates_in_utc() -> None:
    line = record_line(
        ("event_id", "occurred_at", "customer_name", "details"),
        ("e1", datetime(2026, 11, 3, 9, 0, 0, 123000), 'Café "A"\n', '{"a":[1,{"b":"é"}]}'),
    )
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    record = orjson.loads(line)
    assert record == {
        "event_id": "e1",
        "occurred_at": "2026-11-03T09:00:00.123Z",
        "customer_name": 'Café "A"\n',
        "details": {"a": [1, {"b": "é"}]},
    }
    assert orjson.loads(record_line(("details",), ("",)))["details"] is None
    assert orjson.loads(record_line(("details",), ("{broken",)))["details"] == "{broken"


def test_the_parquet_schema_is_typed_and_matches_the_select() -> None:
    schema = parquet_schema()
    assert schema.names == [name for name, _ in PARQUET_SELECT]
    assert schema.field("occurred_at").type == pa.timestamp("ms", tz="UTC")
    item = schema.field("line_items").type.value_type
    assert item.field("quantity").type == pa.int64()
    assert isinstance(schema.field("details").type, pa.JsonType)


def test_sizes_read_well() -> None:
    assert human_size(12) == "12 B"
    assert human_size(2048) == "2.0 KB"
    assert human_size(5 * 1024**3) == "5.0 GB"


def test_a_partners_export_is_cut_at_every_utc_month_and_covers_its_range_once() -> None:
    paris = timezone(timedelta(hours=1))
    # 2025-11-14 .. 2026-02-03 in Paris: the bounds are not UTC midnights.
    start, end = datetime(2025, 11, 14, tzinfo=paris), datetime(2026, 2, 3, tzinfo=paris)
    flt = ActivityFilter(TimeRange(start, end, "Europe/Paris"), partner_id="ptn-1", status="ok")
    months = list(month_filters(flt))
    bounds = [(m.range.start, m.range.end) for m in months]
    assert bounds == [
        (start, datetime(2025, 12, 1, tzinfo=UTC)),
        (datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
        (datetime(2026, 2, 1, tzinfo=UTC), end),
    ]
    assert all(m.range.tz == "Europe/Paris" and m.status == "ok" for m in months)
    assert all(m.partner_id == "ptn-1" for m in months)


def test_a_range_within_one_month_and_an_all_partners_export_are_not_cut() -> None:
    start, end = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC)
    mine = ActivityFilter(TimeRange(start, end, "UTC"), partner_id="ptn-1")
    assert list(month_filters(mine)) == [mine]
    # Ordered by partner first, an all-partners export cut by month would reorder its rows.
    every = ActivityFilter(TimeRange(start, start + timedelta(days=400), "UTC"))
    assert list(month_filters(every)) == [every]
