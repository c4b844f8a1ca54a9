"""Fuzzing the SQL CSV encoder: text written by ClickHouse (chDB) reads back as the same text.

`query.exports.csv.stream_csv` lets ClickHouse write the CSV (`FORMAT CSV`,
neutralization and dates in SQL). Each example stores a few rows whose text
columns are hostile strings (the alphabet of `tests/fixtures/csv_cells.py`:
quotes, CR/LF, NUL and controls, formula starts, BOM, astral characters),
exports them through the real store and reads the bytes back with Python's
csv module: every cell equals the stored text, with a `'` in front exactly
when the text starts a formula, and equals what the Python encoder
(`csv_chunks`) gives for the same rows read from the store.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given
from hypothesis import strategies as st

from common.store import Store
from processors.batch import to_columns
from processors.normalize import KafkaMeta, normalize
from query.exports.csv import TEXT_COLUMNS, csv_chunks, stream_csv
from query.filters import ActivityFilter
from query.ranges import TimeRange
from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_TABLE
from schemas.events import validate_event
from schemas.topics import PARTNER_ACTIONS_TOPIC
from tests.fixtures.csv_cells import CELL, DANGEROUS_LEADS, check_cells, read_back
from tests.fixtures.events import valid_partner_action
from tests.fixtures.exports import iter_export_rows
from tests.fuzz import Tally, fuzz_settings

# The stored columns behind the export's cells, in the export's order after the date.
CELL_COLUMNS = TEXT_COLUMNS
START = datetime(2026, 11, 1, tzinfo=UTC)
TALLY = Tally("csv_sql")
_partners = itertools.count()


def _insert(store: Store, partner: str, rows_cells: list[list[str]]) -> None:
    """One row per cell list: a real normalized row with its text columns replaced."""
    template = valid_partner_action(partner_id=partner)
    raw = orjson.dumps(template)
    event = validate_event(PARTNER_ACTIONS_TOPIC, raw)
    rows = []
    for i, cells in enumerate(rows_cells):
        row = dict(normalize(event, raw, KafkaMeta(PARTNER_ACTIONS_TOPIC, 0, i), START))
        row.update(zip(CELL_COLUMNS, cells, strict=True))
        row["occurred_at"] = START + timedelta(seconds=i)  # the export's order is known
        rows.append(row)
    store.insert_columns(ACTIVITY_TABLE, to_columns(rows), ACTIVITY_COLUMN_NAMES)


def test_each_dangerous_lead_is_neutralized_by_clickhouse(store: Store) -> None:
    """Every lead of the answer key, one by one, through the SQL encoder and back."""
    cells = [lead + "1+1" for lead in DANGEROUS_LEADS]
    harmless = ["＝1+1", "＋1", "－1", "＠SUM(A1)", "a=1"]
    rows_cells = [cells[i : i + 5] for i in range(0, len(cells), 5)]
    rows_cells[-1] += harmless[: 5 - len(rows_cells[-1])]
    partner = f"fuzz-{next(_partners)}"
    _insert(store, partner, rows_cells)
    flt = ActivityFilter(
        range=TimeRange(START, START + timedelta(days=1), "UTC"), partner_id=partner
    )
    parsed = read_back(b"".join(stream_csv(store, flt, "en")))[1:]
    got = [cell for line in parsed for cell in line[1:]]
    want = [cell for line in rows_cells for cell in line]
    assert got == ["'" + c if c in cells else c for c in want]


@fuzz_settings(100)
@given(rows_cells=st.lists(st.lists(CELL, min_size=5, max_size=5), min_size=1, max_size=6))
def test_any_text_round_trips_through_the_sql_csv_encoder(
    store: Store, rows_cells: list[list[str]]
) -> None:
    partner = f"fuzz-{next(_partners)}"
    _insert(store, partner, rows_cells)
    flt = ActivityFilter(
        range=TimeRange(START, START + timedelta(days=1), "UTC"), partner_id=partner
    )
    written_by_sql = b"".join(stream_csv(store, flt, "en"))
    assert written_by_sql.endswith(b"\r\n")
    parsed = read_back(written_by_sql)
    assert len(parsed) == len(rows_cells) + 1
    for i, (cells, line) in enumerate(zip(rows_cells, parsed[1:], strict=True)):
        assert line[0] == (START + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        check_cells(cells, line[1:])
        TALLY.add("cells", len(cells))
    # The Python encoder over the same stored rows reads back identically.
    written_by_python = b"".join(csv_chunks(iter_export_rows(store, flt), "en"))
    assert read_back(written_by_python) == parsed
    TALLY.add("rows", len(rows_cells))
    TALLY.add("examples")


def test_zz_write_csv_sql_figures() -> None:
    """Record how many cells went through ClickHouse's CSV (runs last in the module)."""
    assert TALLY.write().get("cells", 0) > 0
