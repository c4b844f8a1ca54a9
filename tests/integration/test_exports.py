"""Exports read back by readers other than their writers (csv, json, ClickHouse): nothing is lost.

Real chDB store, real app (TestClient) and the real CLI; the data set holds
accents, quotes, newlines and spreadsheet formulas on purpose.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from activitylog.cli import main
from common.settings import Settings
from common.store import Store
from query.exports.cells import header_row
from query.exports.csv import csv_chunks, stream_csv
from query.filters import ActivityFilter
from query.http.app import create_api
from query.ranges import resolve_range
from query.reads.columns import EXPORT_ORDER
from query.reads.pages import list_activity
from query.reads.slices import count_activity, export_slices
from schemas.activity import ACTIVITY_TABLE
from tests.fixtures.activity import CAFE, FORMULA, KEYS, NOW, A, eid
from tests.fixtures.csv_cells import DANGEROUS_LEADS
from tests.fixtures.exports import iter_export_rows

NOV = {"from": "2026-11-01", "to": "2026-11-30"}
# The record's text fields (docs/contracts.md), compared cell by cell with the page.
PAGE_TEXT = (
    "customer_id",
    "customer_name",
    "action",
    "action_text",
    "partner_user",
    "status",
    "status_text",
    "additional_info",
    "order_id",
)


@pytest.fixture(scope="module")
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_api(store, Settings(api_keys=KEYS), now=lambda: NOW)) as test_client:
        yield test_client


def _export(client: TestClient, fmt: str, **params: str) -> tuple[bytes, str, int]:
    response = client.get(
        "/api/v1/activity/export", params=NOV | params | {"format": fmt}, headers=A
    )
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    return response.content, disposition, int(response.headers["x-activity-rows"])


def _a_rows_in_november(client: TestClient) -> int:
    page = client.get("/api/v1/activity", params=NOV | {"limit": 1000}, headers=A).json()
    return len(page["items"])


def _csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM first"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_opens_in_a_csv_reader_with_every_character_intact(client: TestClient) -> None:
    data, disposition, count = _export(client, "csv")
    assert 'filename="activity-2026-11-01_2026-11-30.csv"' in disposition
    # Every record ends with CRLF: as many CRLFs as the header plus the rows.
    rows = _csv(data)
    assert data.endswith(b"\r\n") and data.count(b"\r\n") == len(rows)
    assert rows[0] == header_row("en")
    body = rows[1:]
    assert len(body) == count == _a_rows_in_november(client)
    assert all(len(row) == 6 for row in body)
    dates = [row[0] for row in body]
    assert all(d.endswith("Z") and d[10] == "T" for d in dates)
    assert dates == sorted(dates)  # one partner: oldest first
    by_customer = {row[1]: row for row in body}
    assert CAFE in by_customer  # accents, comma and quotes survive
    formula = by_customer["'" + FORMULA]  # the formula is neutralized, not lost
    assert formula[3] == "'-mallory@a.example"
    assert any("first line\nsecond line" in row[5] and '"quoted"' in row[5] for row in body)
    assert any("Köln → Bonn" in row[5] for row in body)
    for row in body:
        for cell in row[1:]:
            assert not cell.startswith(DANGEROUS_LEADS), cell


def test_csv_headers_in_french(client: TestClient) -> None:
    data, _, _ = _export(client, "csv", lang="fr")
    header = _csv(data)[0]
    assert header == [
        "Date (UTC)",
        "Client affecté",
        "Action",
        "Utilisateur partenaire",
        "État",
        "Informations supplémentaires",
    ]


def test_the_store_written_csv_has_the_same_cells_as_the_python_encoder(
    client: TestClient, store: Store
) -> None:
    """ClickHouse writes the bytes; the pure-Python encoder is the reference for the cells."""
    data, _, _ = _export(client, "csv")
    flt = ActivityFilter(range=resolve_range(NOV["from"], NOV["to"], None, NOW), partner_id="ptn-a")
    reference = b"".join(csv_chunks(iter_export_rows(store, flt)))
    assert _csv(data) == _csv(reference)


def test_streamed_and_sliced_csv_are_the_same_bytes_and_pages_answer_meanwhile(
    store: Store,
) -> None:
    """The embedded stream runs on a client of its own: the shared one keeps serving pages."""
    flt = ActivityFilter(range=resolve_range("2026-10-01", "2026-12-31", None, NOW))
    streamed = stream_csv(store, flt, "fr", sliced=False)
    first = next(streamed)
    page = list_activity(store, flt, limit=3)  # while the export's stream is open
    assert len(page.items) == 3 and page.next_cursor
    data = first + b"".join(streamed)
    sliced = b"".join(stream_csv(store, flt, "fr", sliced=True))
    assert data == sliced
    assert len(_csv(data)) == 1 + count_activity(store, flt)
    assert list_activity(store, flt, limit=1).items  # the store is still usable afterwards


def test_parquet_has_real_types_and_nested_details(client: TestClient) -> None:
    data, disposition, count = _export(client, "parquet")
    assert 'filename="activity-2026-11-01_2026-11-30.parquet"' in disposition
    table = pq.read_table(io.BytesIO(data))
    assert table.num_rows == count == _a_rows_in_november(client)
    assert table.schema.field("occurred_at").type == pa.timestamp("ms", tz="UTC")
    assert pa.types.is_list(table.schema.field("line_items").type)
    records = {r["event_id"]: r for r in table.to_pylist()}
    order = records[eid("order-cafe")]
    assert order["customer_name"] == CAFE
    assert order["occurred_at"] == datetime.fromisoformat("2026-11-03T09:00:00+00:00")
    assert [
        (i["product_name"], i["quantity"], i["subscription_id"]) for i in order["line_items"]
    ] == [
        ("Microsoft 365 E3", 3, "sub-1"),
        ("Teams Phone Standard", 1, "sub-2"),
    ]
    assert order["currency"] == "EUR"
    assert orjson.loads(order["details"])["line_items"][0]["unit_price"] == "33.60"
    failed = records[eid("cancel-failed")]
    assert orjson.loads(failed["details"])["note"] == 'first line\nsecond line; "quoted"'
    assert failed["line_items"] == []
    # Parquet keeps text as it is: no spreadsheet, no neutralization.
    assert records[eid("formula")]["customer_name"] == FORMULA


def test_jsonl_is_one_record_per_line_with_details_as_json(client: TestClient) -> None:
    data, disposition, count = _export(client, "jsonl")
    assert disposition.endswith('.jsonl"')
    lines = data.splitlines()
    assert len(lines) == count == _a_rows_in_november(client)
    records = {r["event_id"]: r for r in map(orjson.loads, lines)}
    order = records[eid("order-cafe")]
    assert order["details"]["line_items"][1]["product_name"] == "Teams Phone Standard"
    assert order["occurred_at"] == "2026-11-03T09:00:00.000Z"
    assert records[eid("cancel-failed")]["details"]["note"].endswith('"quoted"')
    assert records[eid("formula")]["customer_name"] == FORMULA


def _page_by_id(client: TestClient) -> dict[str, dict[str, Any]]:
    page = client.get("/api/v1/activity", params=NOV | {"limit": 1000}, headers=A).json()
    return {item["event_id"]: item for item in page["items"]}


def test_parquet_read_back_by_clickhouse_holds_what_the_page_shows(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    """ClickHouse's own Parquet reader (`file()`), not the pyarrow that wrote it."""
    data, _, count = _export(client, "parquet")
    path = tmp_path / "nov.parquet"
    path.write_bytes(data)
    source = {"p": str(path)}
    types = dict(
        row[:2] for row in store.query_rows("DESCRIBE file({p:String}, 'Parquet')", source)
    )
    assert types["occurred_at"] == "DateTime64(3, 'UTC')"
    assert types["line_items"].startswith("Array(Tuple(")
    text = [c for c in PAGE_TEXT if c in types]
    assert len(text) == len(PAGE_TEXT), sorted(types)
    rows = store.query_rows(
        f"SELECT event_id, toUnixTimestamp64Milli(occurred_at), {', '.join(text)}, "  # noqa: S608
        "arrayMap(i -> i.product_name, line_items) FROM file({p:String}, 'Parquet')",
        source,
    )
    page = _page_by_id(client)
    assert len(rows) == count == len(page) and {r[0] for r in rows} == set(page)
    for event_id, millis, *cells, _products in rows:
        item = page[event_id]
        shown = datetime.fromisoformat(item["occurred_at"].replace("Z", "+00:00"))
        assert millis == int(shown.timestamp() * 1000), event_id
        assert dict(zip(text, cells, strict=True)) == {c: item[c] for c in text}, event_id
    by_id = {r[0]: r for r in rows}
    assert by_id[eid("order-cafe")][-1] == ["Microsoft 365 E3", "Teams Phone Standard"]
    assert by_id[eid("formula")][2 + text.index("customer_name")] == FORMULA


def test_jsonl_read_back_by_the_json_module_and_by_clickhouse_holds_what_the_page_shows(
    client: TestClient, store: Store
) -> None:
    """The standard `json` module and ClickHouse's JSONEachRow, not the orjson that wrote it."""
    data, _, count = _export(client, "jsonl")
    text = data.decode("utf-8")  # strict: a bad byte fails here
    assert text.endswith("\n")
    records = [json.loads(line) for line in text.split("\n")[:-1]]
    page = _page_by_id(client)
    assert len(records) == count == len(page) and {r["event_id"] for r in records} == set(page)
    for record in records:
        item = page[record["event_id"]]
        assert set(PAGE_TEXT) <= set(record) <= set(item), record["event_id"]
        assert record == {k: item[k] for k in record}, record["event_id"]
    read_by_clickhouse = store.query_rows(
        f"SELECT event_id, {', '.join(PAGE_TEXT)} "  # noqa: S608
        "FROM format(JSONEachRow, {b:String}) ORDER BY event_id",
        {"b": text},
    )
    assert read_by_clickhouse == sorted(
        (r["event_id"], *(r[c] for c in PAGE_TEXT)) for r in records
    )


def test_exports_take_the_same_filters_and_time_zone(client: TestClient) -> None:
    data, disposition, count = _export(client, "csv", customer_id="cust-tz", tz="Europe/Paris")
    assert 'filename="activity-2026-11-01_2026-11-30.csv"' in disposition
    rows = _csv(data)[1:]
    # Paris November holds Oct 31 23:30Z and Nov 1 00:30Z, not Nov 30 23:30Z.
    assert [r[0] for r in rows] == ["2026-10-31T23:30:00.000Z", "2026-11-01T00:30:00.000Z"]
    assert count == 2
    empty, _, none = _export(client, "csv", customer="no such company")
    assert none == 0 and _csv(empty) == [header_row("en")]
    empty_parquet, _, _ = _export(client, "parquet", customer="no such company")
    assert pq.read_table(io.BytesIO(empty_parquet)).num_rows == 0
    assert _export(client, "jsonl", customer="no such company")[0] == b""


def test_slices_cover_the_range_exactly_once_in_order(store: Store) -> None:
    flt = ActivityFilter(range=resolve_range("2026-10-01", "2026-12-31", None, NOW))
    keys = ", ".join(EXPORT_ORDER)
    whole = store.query_rows(
        f"SELECT {keys} FROM {ACTIVITY_TABLE} FINAL WHERE {flt.where()[0]} ORDER BY {keys}",  # noqa: S608
        flt.where()[1],
    )
    sliced: list[tuple[object, ...]] = []
    slices = 0
    for where, params in export_slices(store, flt, rows=4):
        sql = f"SELECT {keys} FROM {ACTIVITY_TABLE} FINAL WHERE {where} ORDER BY {keys}"  # noqa: S608
        sliced += store.query_rows(sql, params)
        slices += 1
    assert sliced == whole and len(whole) > 20
    assert slices >= len(whole) // 4  # really cut, not one big query


def test_cli_export_writes_each_format_and_sums_up(
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI with no `serve` running opens the store itself (same process, same directory)."""
    monkeypatch.setenv("ACTIVITYLOG_CLICKHOUSE_URL", f"chdb://{store.location.path}")
    monkeypatch.setenv("ACTIVITYLOG_STATE_DIR", str(tmp_path / "state"))
    for fmt in ("csv", "parquet", "jsonl"):
        out = tmp_path / f"nov.{fmt}"
        code = main(
            [
                "export",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-30",
                "--customer-id",
                "cust-cafe",
                "--format",
                fmt,
                "-o",
                str(out),
            ]
        )
        assert code == 0
        summary = capsys.readouterr().out
        assert f"wrote {out}: 6 rows" in summary and f"{out.stat().st_size:,} bytes" in summary
    assert len(_csv((tmp_path / "nov.csv").read_bytes())) == 7
    assert pq.read_table(tmp_path / "nov.parquet").num_rows == 6
    assert len((tmp_path / "nov.jsonl").read_bytes().splitlines()) == 6
    assert main(["export", "--format", "xls"]) == 2
    assert "unknown format 'xls'" in capsys.readouterr().err
    assert (
        main(
            [
                "query",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-30",
                "--json",
                "--limit",
                "2",
                "--customer-id",
                "cust-cafe",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    items = [orjson.loads(line) for line in captured.out.splitlines()]
    assert [i["event_id"] for i in items] == [eid("cancel-pending"), eid("reactivate")]
    assert "--cursor" in captured.err
