"""Fuzzing the Python CSV encoder (`csv_chunks`): any text survives and never starts a formula.

The alphabet is chosen to break CSV: quotes, commas, semicolons, CR, LF,
CRLF, NUL and other controls, the formula starts (`= + - @`, tab, CR, LF),
the BOM, Unicode line separators and astral characters (surrogate-free:
a lone surrogate cannot be UTF-8). Read back with Python's csv module, every
cell is the original text, with a `'` in front exactly when the original
begins with a formula character; so no cell a spreadsheet reads starts a formula.
The SQL encoder written by ClickHouse is fuzzed the same way in
`tests/integration/test_fuzz_csv_sql.py`.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from query.exports.csv import ROWS_PER_CHUNK, csv_chunks
from tests.fixtures.csv_cells import CELL, check_cells, read_back
from tests.fuzz import Tally, fuzz_settings

WHEN = datetime(2026, 11, 27, 9, 8, 7, 123000)
TALLY = Tally("csv_python")


@fuzz_settings(400)
@given(rows=st.lists(st.lists(CELL, min_size=5, max_size=5), min_size=1, max_size=5))
def test_any_text_round_trips_through_csv_chunks(rows: list[list[str]]) -> None:
    """The five text columns, several rows."""
    data = b"".join(csv_chunks([(WHEN, *cells) for cells in rows], "en"))
    assert data.endswith(b"\r\n")
    parsed = read_back(data)
    assert len(parsed) == len(rows) + 1
    for cells, line in zip(rows, parsed[1:], strict=True):
        assert line[0] == "2026-11-27T09:08:07.123Z"
        check_cells(cells, line[1:])
        TALLY.add("cells", len(cells))
    TALLY.add("rows", len(rows))
    TALLY.add("examples")


def test_chunk_boundaries_do_not_split_rows() -> None:
    """More rows than one chunk holds: the chunks join into the same rows."""
    cells = ['=a,"b"\r\n', "x", "é\U0001f600", "-1", "@"]
    rows = [(WHEN, *cells)] * (ROWS_PER_CHUNK + 3)
    chunks = list(csv_chunks(rows))
    assert len(chunks) == 2
    parsed = read_back(b"".join(chunks))
    assert len(parsed) == ROWS_PER_CHUNK + 4
    check_cells(cells, parsed[-1][1:])


def test_zz_write_csv_figures() -> None:
    """Record how many cells this module fuzzed (runs last in the module)."""
    assert TALLY.write().get("cells", 0) > 0
