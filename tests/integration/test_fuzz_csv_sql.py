"""Fuzzing the SQL CSV encoder: ClickHouse (chDB) writes exactly the Python reference's cells.

`query.exports.csv.stream_csv` lets ClickHouse write the CSV (`FORMAT CSV`,
the readable texts, neutralization and dates in SQL). Each example stores
a few rows whose free text (customer name, partner user, resource name and
id, a details string, nested too) is hostile (the alphabet of
`tests/fixtures/csv_cells.py`: quotes, CR/LF, NUL and controls, formula
starts, BOM, astral characters), exports them through the real store in
both languages and reads the bytes back with Python's csv module: the
customer and user cells equal the stored text (with a `'` in front exactly
when it starts a formula), and every row equals the Python reference
(`export_cells`, then `csv_chunks`) for the same stored rows.
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
from query.exports.csv import csv_chunks, stream_csv
from query.filters import ActivityFilter
from query.ranges import TimeRange
from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_TABLE
from schemas.events import validate_event
from schemas.readable.catalogs import LANGUAGES
from schemas.topics import PARTNER_ACTIONS_TOPIC
from tests.fixtures.csv_cells import CELL, DANGEROUS_LEADS, check_cells, read_back
from tests.fixtures.events import valid_partner_action
from tests.fixtures.exports import iter_export_rows
from tests.fuzz import Tally, fuzz_settings

START = datetime(2026, 11, 1, tzinfo=UTC)
TALLY = Tally("csv_sql")
_partners = itertools.count()
# Stored text that readers show as is, and text that reaches the readable cells.
FREE_TEXT = ("customer_name", "partner_user", "resource_name", "resource_id", "detail")


def _insert(store: Store, partner: str, rows_text: list[list[str]]) -> None:
    """One row per text list: a real normalized row with its free text replaced."""
    template = valid_partner_action(partner_id=partner)
    raw = orjson.dumps(template)
    event = validate_event(PARTNER_ACTIONS_TOPIC, raw)
    rows = []
    for i, texts in enumerate(rows_text):
        row = dict(normalize(event, raw, KafkaMeta(PARTNER_ACTIONS_TOPIC, 0, i), START))
        text = dict(zip(FREE_TEXT, texts, strict=True))
        detail = text.pop("detail")
        row.update(text)
        row["details"] = orjson.dumps(
            {"reason": detail, "user": {"upn": detail}, "old": {"x": detail}, "new": {"x": 1}}
        ).decode()
        row["occurred_at"] = START + timedelta(seconds=i)  # the export's order is known
        rows.append(row)
    store.insert_columns(ACTIVITY_TABLE, to_columns(rows), ACTIVITY_COLUMN_NAMES)


def test_each_dangerous_lead_is_neutralized_by_clickhouse(store: Store) -> None:
    """Every lead of the answer key, one by one, through the SQL encoder and back.

    The customer and the partner user are the cells a reader shows verbatim;
    the full-width forms and a lead inside the text are left alone.
    """
    dangerous = [lead + "1+1" for lead in DANGEROUS_LEADS]
    harmless = ["＝1+1", "＋1", "－1", "＠SUM(A1)", "a=1"]
    cells = dangerous + harmless
    rows_text = [[cell, cell, "r", "id", "d"] for cell in cells]
    partner = f"fuzz-{next(_partners)}"
    _insert(store, partner, rows_text)
    flt = ActivityFilter(
        range=TimeRange(START, START + timedelta(days=1), "UTC"), partner_id=partner
    )
    parsed = read_back(b"".join(stream_csv(store, flt, "en")))[1:]
    want = ["'" + c if c in dangerous else c for c in cells]
    assert [line[1] for line in parsed] == want
    assert [line[3] for line in parsed] == want


@fuzz_settings(60)
@given(rows_text=st.lists(st.lists(CELL, min_size=5, max_size=5), min_size=1, max_size=6))
def test_any_text_reads_the_same_from_the_sql_and_the_python_encoders(
    store: Store, rows_text: list[list[str]]
) -> None:
    partner = f"fuzz-{next(_partners)}"
    _insert(store, partner, rows_text)
    flt = ActivityFilter(
        range=TimeRange(START, START + timedelta(days=1), "UTC"), partner_id=partner
    )
    for lang in LANGUAGES:
        written_by_sql = b"".join(stream_csv(store, flt, lang))
        assert written_by_sql.endswith(b"\r\n")
        parsed = read_back(written_by_sql)
        assert len(parsed) == len(rows_text) + 1
        for i, (texts, line) in enumerate(zip(rows_text, parsed[1:], strict=True)):
            assert line[0] == (START + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            check_cells(texts[:2], [line[1], line[3]])
            TALLY.add("cells", len(line) - 1)
        written_by_python = b"".join(csv_chunks(iter_export_rows(store, flt, lang), lang))
        assert read_back(written_by_python) == parsed
    TALLY.add("rows", len(rows_text))
    TALLY.add("examples")


def test_zz_write_csv_sql_figures() -> None:
    """Record how many cells went through ClickHouse's CSV (runs last in the module)."""
    assert TALLY.write().get("cells", 0) > 0
