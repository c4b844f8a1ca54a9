"""CSV exports open right in Excel and survive a round trip through a CSV reader."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from query.exports.csv import csv_chunks, neutralize
from tests.fixtures.csv_cells import DANGEROUS_LEADS

WHEN = datetime(2026, 11, 27, 9, 8, 7, 123000)


def _rows(cells: list[str]) -> list[tuple[object, ...]]:
    return [(WHEN, *cells)]


def _parse(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_bom_crlf_header_and_french_headers() -> None:
    data = b"".join(csv_chunks(_rows(['Café, "Élodie"', "a", "u", "s", "x\ny"]), "fr"))
    assert b"\r\n" in data
    rows = _parse(data)
    assert rows[0][1] == "Client affecté" and rows[0][4] == "État"
    assert rows[1] == ["2026-11-27T09:08:07.123Z", 'Café, "Élodie"', "a", "u", "s", "x\ny"]


def test_formulas_are_neutralized() -> None:
    for lead in DANGEROUS_LEADS:
        assert neutralize(lead + "1+1") == "'" + lead + "1+1"
    # Harmless elsewhere than in front, and the full-width forms stay text in a spreadsheet.
    for harmless in ("plain", "a=1", " =1", "1-2", "＝1+1", "＋1", "－1", "＠SUM(A1)", ""):
        assert neutralize(harmless) == harmless
    rows = _parse(b"".join(csv_chunks(_rows(['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx"]))))
    assert all(cell.startswith("'") for cell in rows[1][1:6])


# No deadline: a shared CI machine's pauses are not the code's speed.
@settings(deadline=None)
@given(st.lists(st.text(max_size=40), min_size=5, max_size=5))
def test_any_text_survives_and_never_starts_a_formula(cells: list[str]) -> None:
    rows = _parse(b"".join(csv_chunks(_rows(cells))))
    for original, parsed in zip(cells, rows[1][1:6], strict=True):
        assert parsed == neutralize(original)
        assert not parsed.startswith(DANGEROUS_LEADS)
