"""The xlsx framing, the tap that reads it back, and the `;` CSV's record ends (pure)."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from query.exports import xlsx
from query.exports.csv import header_bytes
from query.exports.xlsx import column_letter, workbook_chunks
from query.manifests.csv_records import record_ends
from query.manifests.facts import ExportTap
from query.manifests.model import ExportFacts
from query.manifests.verify import check_file
from tests.fixtures.workbooks import openpyxl_sheets

# 2026-11-01 00:30 and 01:30 wall-clock time (Excel serial days).
SERIALS = (46327.020833333336, 46327.0625)


def _row(serial: float, text: str) -> bytes:
    cell = f'<c t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
    return f'<row><c s="1"><v>{serial!r}</v></c>{cell}</row>\n'.encode()


def _book(header: list[str], texts: list[str], chunk_rows: int = 100) -> bytes:
    rows = [_row(SERIALS[i % 2], t) for i, t in enumerate(texts)]
    chunks = [b"".join(rows[i : i + chunk_rows]) for i in range(0, len(rows), chunk_rows)]
    return b"".join(workbook_chunks(header, chunks))


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 5, 25, 26, 27, 701, 702)] == [
        "A",
        "F",
        "Z",
        "AA",
        "AB",
        "ZZ",
        "AAA",
    ]


def test_a_full_sheet_continues_on_the_next_with_its_header_filter_and_frozen_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(xlsx, "DATA_ROWS_PER_SHEET", 2)
    header = ["Date (Europe/Paris)", "R&D <name>"]
    data = _book(header, ["a", "b", "c", "d", "e"], chunk_rows=3)  # a chunk spans two sheets
    sheets = openpyxl_sheets(data)
    assert [name for name, _ in sheets] == ["Activity", "Activity (2)", "Activity (3)"]
    assert [[row[1] for row in rows] for _, rows in sheets] == [
        ["R&D <name>", "a", "b"],
        ["R&D <name>", "c", "d"],
        ["R&D <name>", "e"],
    ]
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        assert book.testzip() is None
        last = book.read("xl/worksheets/sheet3.xml").decode()
        workbook = book.read("xl/workbook.xml").decode()
    assert '<autoFilter ref="A1:B2"/>' in last and 'ySplit="1"' in last
    assert "'Activity (3)'!$A$1:$B$2" in workbook


def test_an_empty_export_is_one_sheet_with_its_header() -> None:
    data = _book(["Date (UTC)", "x"], [])
    assert openpyxl_sheets(data) == [("Activity", [("Date (UTC)", "x")])]
    facts = _facts(data, len(data))
    assert (facts.rows, facts.first_event_at, facts.last_event_at) == (0, None, None)


def _facts(data: bytes, step: int) -> ExportFacts:
    tap = ExportTap("xlsx")
    for at in range(0, len(data), step):
        tap.update(data[at : at + step])
    return tap.facts()


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 20])
def test_the_tap_counts_rows_and_reads_times_whatever_the_chunks(
    step: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx, "DATA_ROWS_PER_SHEET", 3)
    data = _book(["Date (Europe/Paris)", "x"], [f"row {i} &lt;row&gt;" for i in range(8)])
    facts = _facts(data, step)
    assert facts.rows == 8
    # Paris is UTC+1 in November: the wall-clock times read back as UTC.
    assert facts.first_event_at == "2026-10-31T23:30:00.000Z"
    assert facts.last_event_at == "2026-11-01T00:30:00.000Z"


def test_verify_names_a_file_that_is_no_workbook(tmp_path: Path) -> None:
    file = tmp_path / "x.xlsx"
    file.write_bytes(b"not a zip at all")
    verdict = check_file(file, {"format": "xlsx", "rows": 0}, signing_key=None)
    assert verdict.names() == ["rows"] and "not a readable xlsx" in verdict.mismatches[0].detail


def test_semicolon_csv_header_and_record_ends() -> None:
    assert header_bytes("fr", ";").startswith("\ufeffDate (UTC);Client affecté;".encode())
    # A cell opening with a newline right after `;"` is inside quotes: one record, not two.
    data = b'"2026-11-01T00:00:00.000Z";"\r\nsecond"\r\n"2026-11-02T00:00:00.000Z";"x"\r\n'
    assert len(record_ends(data, 0, ord(";"))) == 2
    tap = ExportTap("csv-fr")
    tap.update(header_bytes("en", ";") + data)
    facts = tap.facts()
    assert facts.rows == 2 and facts.last_event_at == "2026-11-02T00:00:00.000Z"


def _allocated_peak(rows: int) -> int:
    """Peak bytes Python allocates while framing `rows` rows (chunks of 8192, as the engine's).

    The chunk is built before tracing starts: what is measured is what the framing keeps.
    """
    row = _row(SERIALS[0], "Café Élodie, &quot;Les Amis&quot; " + "x" * 200)
    chunk = row * 8192
    tracemalloc.start()
    try:
        for _ in workbook_chunks(["Date (UTC)", "x"], (chunk for _ in range(rows // 8192))):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_framing_memory_does_not_grow_with_the_row_count() -> None:
    small, large = _allocated_peak(8192 * 4), _allocated_peak(8192 * 64)
    # The compressed output of one chunk at most (a chunk itself is about 2.8 MB).
    assert large < 1 << 20
    assert large < small * 1.5


def test_the_first_sheet_holds_excels_1048575_rows_under_its_header() -> None:
    """With the real limit: one row past it is the first row of the second sheet."""
    row = b'<row><c s="1"><v>46327.5</v></c></row>\n'
    rows = xlsx.SHEET_ROWS  # one more data row than a sheet holds under its header
    chunks = (row * 8192 for _ in range(rows // 8192))
    data = b"".join(workbook_chunks(["Date (UTC)"], chunks))
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        names = [n for n in book.namelist() if n.startswith("xl/worksheets/")]
        second = book.read("xl/worksheets/sheet2.xml")
    assert names == ["xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"]
    assert second.count(b"<row>") == 1 and b'<autoFilter ref="A1:A2"/>' in second
    assert _facts(data, 1 << 20).rows == rows
