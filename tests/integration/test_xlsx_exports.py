"""xlsx and csv-fr exports read back by independent readers: openpyxl, LibreOffice Calc, csv.

Real chDB store, real app (TestClient) and the real CLI. The rows hold
accents, CJK, quotes, newlines, formula-looking text, XML's own characters,
Excel's `_xHHHH_` escape, edge spaces and a control character on purpose.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from activitylog.cli import main
from common.settings import Settings
from common.store import Store
from query.exports import xlsx
from query.exports.cells import header_row
from query.filters import ActivityFilter
from query.http.app import create_api
from query.manifests.facts import ExportTap
from query.ranges import resolve_range
from tests.fixtures.activity import KEYS, NOW, A, action, insert
from tests.fixtures.exports import iter_export_rows
from tests.fixtures.workbooks import calc_available, calc_sheets, openpyxl_sheets

NOV = {"from": "2026-11-01", "to": "2026-11-30"}
PARIS = "Europe/Paris"
CJK = "株式会社さくら 顧客"
ESCAPE_LOOKALIKE = "Acme _x0041_ Ltd"
XML_TEXT = "R&D <Lab> ]]> \"quoted\" 'single'"
PADDED = "  padded name  "
CONTROL = "bell\x07ring"
TRICKY = (CJK, ESCAPE_LOOKALIKE, XML_TEXT, PADDED, CONTROL)
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
needs_calc = pytest.mark.skipif(not calc_available(), reason="LibreOffice missing: run make calc")


@pytest.fixture(scope="module")
def client(store: Store) -> Iterator[TestClient]:
    insert(
        store,
        [
            action(f"xlsx-{n}", f"2026-11-1{n}T08:15:30.250Z", customer_name=name)
            for n, name in enumerate(TRICKY)
        ],
    )
    with TestClient(create_api(store, Settings(api_keys=KEYS), now=lambda: NOW)) as test_client:
        yield test_client


def _export(client: TestClient, fmt: str, **params: str) -> tuple[bytes, int]:
    response = client.get(
        "/api/v1/activity/export", params=NOV | params | {"format": fmt}, headers=A
    )
    assert response.status_code == 200, response.text
    return response.content, int(response.headers["x-activity-rows"])


def _expected(store: Store, tz: str, lang: str = "en") -> list[tuple[datetime, list[str]]]:
    """The stored rows of partner A's November in export order: local time and cell texts."""
    flt = ActivityFilter.from_params(resolve_range(NOV["from"], NOV["to"], tz, NOW), "ptn-a", {})
    zone = ZoneInfo(tz)
    return [
        (
            datetime.fromisoformat(row[0].replace("Z", "+00:00"))
            .astimezone(zone)
            .replace(tzinfo=None),
            [_FORBIDDEN.sub("", str(v)) for v in row[1:6]],
        )
        for row in iter_export_rows(store, flt, lang)
    ]


def _openpyxl_text(text: str) -> str | None:
    # openpyxl does not decode Excel's `_xHHHH_` escape (Excel and Calc do): it shows it.
    return re.sub(r"_(x[0-9A-Fa-f]{4}_)", r"_x005F_\1", text) or None


def test_xlsx_read_by_openpyxl_has_typed_cells_equal_to_the_store(
    client: TestClient, store: Store
) -> None:
    data, rows = _export(client, "xlsx", tz=PARIS, lang="fr")
    expected = _expected(store, PARIS, "fr")
    (name, sheet), *others = openpyxl_sheets(data)
    assert not others and name == "Activity"
    assert sheet[0] == (f"Date ({PARIS})", *header_row("fr")[1:])
    assert len(sheet) - 1 == rows == len(expected) > 30
    for got, (when, texts) in zip(sheet[1:], expected, strict=True):
        assert isinstance(got[0], datetime), "dates as dates"
        assert abs((got[0] - when).total_seconds()) < 0.0005, (got[0], when)
        assert list(got[1:]) == [_openpyxl_text(t) for t in texts]
    names = {row[1] for row in sheet[1:]}
    assert {CJK, XML_TEXT, PADDED, "bellring"} <= names, "text kept, control character removed"
    assert '=HYPERLINK("http://evil.example")' in names, "formula-looking text is a plain string"
    assert any(isinstance(v, str) and "\n" in v for row in sheet for v in row), "newlines kept"

    with zipfile.ZipFile(io.BytesIO(data)) as book:
        xml = book.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert 'state="frozen"' in xml and f'<autoFilter ref="A1:F{rows + 1}"/>' in xml
    assert "<f>" not in xml and 't="inlineStr"' in xml, "no formula, inline strings"


@needs_calc
def test_xlsx_read_by_libreoffice_shows_the_same_cells(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    data, rows = _export(client, "xlsx", tz=PARIS)
    expected = _expected(store, PARIS)
    (sheet,) = calc_sheets(data, tmp_path)
    assert sheet[0][0] == f"Date ({PARIS})" and sheet[0][1] == "Affected customer"
    assert len(sheet) - 1 == rows == len(expected)
    for got, (when, texts) in zip(sheet[1:], expected, strict=True):
        # Shown with the sheet's date format: Calc read a date, not text.
        assert got[0] == when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}"
        assert got[1:] == texts
    assert {row[1] for row in sheet[1:]} >= {*TRICKY[:4], "bellring"}


def test_rows_past_a_sheets_capacity_continue_on_the_next_sheet(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx, "DATA_ROWS_PER_SHEET", 10)
    data, rows = _export(client, "xlsx")
    sheets = openpyxl_sheets(data)
    assert [name for name, _ in sheets][:2] == ["Activity", "Activity (2)"]
    assert [len(rows_) - 1 for _, rows_ in sheets] == [10] * (rows // 10) + (
        [rows % 10] if rows % 10 else []
    )
    assert all(rows_[0][0] == "Date (UTC)" for _, rows_ in sheets), "each sheet has the header"
    expected = _expected(store, "UTC")
    flat = [row for _, rows_ in sheets for row in rows_[1:]]
    assert [row[1] for row in flat] == [_openpyxl_text(texts[0]) for _, texts in expected]
    tap = ExportTap("xlsx")
    for at in range(0, len(data), 997):  # odd chunks: headers and rows cut anywhere
        tap.update(data[at : at + 997])
    facts = tap.facts()
    assert facts.rows == rows
    assert facts.first_event_at == expected[0][0].isoformat(timespec="milliseconds") + "Z"
    if calc_available():
        calc = calc_sheets(data, tmp_path)
        assert [len(sheet) - 1 for sheet in calc] == [len(r) - 1 for _, r in sheets]


def test_streamed_and_sliced_xlsx_are_the_same_bytes(client: TestClient, store: Store) -> None:
    """Embedded stores stream one query; a server store reads slices: one workbook either way."""
    flt = ActivityFilter.from_params(resolve_range(NOV["from"], NOV["to"], PARIS, NOW), None, {})
    streamed = b"".join(xlsx.stream_xlsx(store, flt, "fr", sliced=False))
    sliced = b"".join(xlsx.stream_xlsx(store, flt, "fr", sliced=True))
    assert streamed == sliced
    assert sum(len(rows) - 1 for _, rows in openpyxl_sheets(sliced)) > 36


def test_csv_fr_splits_on_semicolons_with_the_bom_and_counts_its_records(
    client: TestClient, store: Store
) -> None:
    data, rows = _export(client, "csv-fr", lang="fr")
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert table[0] == header_row("fr")
    assert len(table) - 1 == rows == len(_expected(store, "UTC"))
    assert all(len(row) == 6 for row in table)
    comma, _ = _export(client, "csv", lang="fr")
    assert comma.startswith(b"\xef\xbb\xbf") and b'";"' not in comma.split(b"\r\n", 1)[1]
    plain = list(csv.reader(io.StringIO(comma.decode("utf-8-sig"), newline="")))
    assert plain == table, "the same cells as the default CSV, only the delimiter differs"
    tap = ExportTap("csv-fr")
    tap.update(data)
    assert tap.facts().rows == rows


@pytest.mark.parametrize(
    ("params", "field"),
    [({"format": "xls"}, "format"), ({"format": "xlsx", "lang": "de"}, "lang")],
)
def test_bad_format_or_language_is_a_400_naming_the_field(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    response = client.get("/api/v1/activity/export", params=NOV | params, headers=A)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{field}: ")


def test_cli_exports_xlsx_and_csv_fr_with_manifests_that_verify(
    client: TestClient,
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ACTIVITYLOG_CLICKHOUSE_URL", f"chdb://{store.location.path}")
    monkeypatch.setenv("ACTIVITYLOG_STATE_DIR", str(tmp_path / "state"))
    args = ["export", "--from", "2026-11-01", "--to", "2026-11-30", "--tz", PARIS]
    monkeypatch.chdir(tmp_path)
    for fmt, name in (("xlsx", "activity-2026-11-01_2026-11-30.xlsx"), ("csv-fr", None)):
        out = Path("exports") / name if name else tmp_path / "nov-fr.csv"  # default: in cwd
        code = main([*args, "--format", fmt, *([] if name else ["-o", str(out)])])
        assert code == 0, capsys.readouterr().err
        summary = capsys.readouterr().out
        assert f"wrote {out}: " in summary
        assert main(["verify", str(out)]) == 0
        assert capsys.readouterr().out.startswith("OK")
    book = openpyxl_sheets(
        (tmp_path / "exports" / "activity-2026-11-01_2026-11-30.xlsx").read_bytes()
    )
    assert book[0][1][0] == (f"Date ({PARIS})", *header_row("en")[1:])
    tampered = tmp_path / "nov-fr.csv"
    tampered.write_bytes(tampered.read_bytes().replace(b'";"', b'","', 1))
    assert main(["verify", str(tampered)]) == 1
