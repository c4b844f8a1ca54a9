"""Texts stored at write time: equal to the SQL and Python renderings, and never served stale.

On the real store (chDB): simulated rows inserted as the worker inserts them
hold, in every language, stored texts equal to `readable_sql` and to the
Python renderer, and the CSV and xlsx exports read them. A catalog edit (a
changed digest) or English rows written before a wording change make the
export render in SQL (still equal to the Python reference) until
`rerender` (`activitylog migrate`) re-renders the stale rows, after which
the export reads the stored columns again. A `migrate` killed with -9 in
the middle of a re-render finishes on the next run.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from common.errors import StoreUnavailable
from common.store import Store
from query.exports.csv import CSV_SETTINGS, csv_chunks, csv_select, stream_csv
from query.exports.jsonl import stream_jsonl
from query.exports.parquet import stream_parquet
from query.exports.texts import STALE_MESSAGE, guarded, stored_current
from query.exports.xlsx import stream_xlsx
from query.filters import ActivityFilter
from query.ranges import TimeRange
from query.reads.columns import export_query
from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_TABLE
from schemas.migrate import open_migrated
from schemas.readable import catalogs
from schemas.readable.catalogs import LANGUAGES
from schemas.readable.render import READABLE_COLUMNS, READABLE_SOURCES, render
from schemas.readable.sql import readable_sql
from schemas.rerender import rerender, stale_months
from schemas.stored_texts import digest_column, stored_sql, text_columns, texts_digest
from tests.fixtures.datasets import MONTH_END, fill_store
from tests.fixtures.exports import iter_export_rows
from tests.fixtures.workbooks import openpyxl_sheets

SIMULATED = 3000
Cells = list[list[str]]
ALL_TIME = TimeRange(datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC), "UTC")
# The wording an edited catalog gives one action (a simulated code: many rows carry it).
EDITED_KEY = "action.user.create"
EDITED = {"en": "User added (edited)", "fr": "Utilisateur ajouté (modifié)"}


def _open(path: Path) -> Store:
    return open_migrated(f"chdb://{path}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = _open(tmp_path / "ch")
    try:
        fill_store(opened, SIMULATED, seed=14, seed_events=SIMULATED)
        yield opened
    finally:
        opened.close()


@pytest.fixture
def edit_catalogs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """A call that rewords one message of every catalog, as a deployment with an edited
    .po file (called once the store holds rows written with the shipped catalogs)."""
    original = catalogs.messages

    def edited(lang: str) -> Mapping[str, str]:
        return {**original(lang), EDITED_KEY: EDITED[lang]}

    def edit() -> None:
        monkeypatch.setattr(catalogs, "messages", edited)
        stored_sql.cache_clear()
        texts_digest.cache_clear()

    yield edit
    monkeypatch.undo()
    stored_sql.cache_clear()
    texts_digest.cache_clear()


def _everything() -> ActivityFilter:
    return ActivityFilter(range=ALL_TIME)


def _check_stored_equals_sql_and_python(store: Store, lang: str) -> int:
    """Every row: stored texts == readable_sql == render(), its digest current; the row count."""
    stored = text_columns(lang)
    sql = readable_sql(lang)
    select = ", ".join(
        [
            *READABLE_SOURCES,
            *(f"{stored[name]} AS stored_{name}" for name in READABLE_COLUMNS),
            *(f"{sql[name]} AS sql_{name}" for name in READABLE_COLUMNS),
            f"{digest_column(lang)} AS digest",
        ]
    )
    rows = store.query_dicts(f"SELECT {select} FROM {ACTIVITY_TABLE}", {})  # noqa: S608
    for row in rows:
        python = render(row, lang).as_dict()
        assert {name: row[f"stored_{name}"] for name in READABLE_COLUMNS} == python, row
        assert {name: row[f"sql_{name}"] for name in READABLE_COLUMNS} == python, row
        assert row["digest"] == texts_digest(lang)
    return len(rows)


def _cells(data: bytes, delimiter: str) -> Cells:
    """An export's cells as a spreadsheet importer reads them (ClickHouse quotes every
    string, Python's encoder only where needed: the same cells)."""
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def _python_csv(store: Store, flt: ActivityFilter, lang: str, delimiter: str = ",") -> Cells:
    rows = iter_export_rows(store, flt, lang)
    return _cells(b"".join(csv_chunks(rows, lang, delimiter)), delimiter)


def _csv(store: Store, flt: ActivityFilter, lang: str, **options: Any) -> Cells:
    data = b"".join(stream_csv(store, flt, lang, **options))
    return _cells(data, options.get("delimiter", ","))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_stored_texts_equal_the_sql_and_the_python_renderings(store: Store, lang: str) -> None:
    assert _check_stored_equals_sql_and_python(store, lang) == SIMULATED
    flt = _everything()
    assert stored_current(store, flt, lang)
    assert _csv(store, flt, lang) == _python_csv(store, flt, lang)
    sliced = _csv(store, flt, lang, sliced=True, delimiter=";")
    assert sliced == _python_csv(store, flt, lang, ";")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_xlsx_export_reads_the_same_texts_stored_or_rendered(store: Store, lang: str) -> None:
    flt = _everything()
    from_stored = openpyxl_sheets(b"".join(stream_xlsx(store, flt, lang)))
    _make_stale(store, lang)
    assert not stored_current(store, flt, lang)
    assert openpyxl_sheets(b"".join(stream_xlsx(store, flt, lang))) == from_stored


@pytest.mark.parametrize("lang", LANGUAGES)
def test_jsonl_and_parquet_read_the_stored_texts_equal_to_their_python_rendering(
    store: Store, lang: str
) -> None:
    flt = _everything()
    jsonl, parquet = _jsonl_and_parquet(store, flt, lang)
    assert any(EXPECTED_TEXT[lang] in line for line in jsonl)
    _make_stale(store, lang)
    assert not stored_current(store, flt, lang)
    assert _jsonl_and_parquet(store, flt, lang) == (jsonl, parquet)


EXPECTED_TEXT = {"en": "Subscription created", "fr": "Abonnement créé"}


def _jsonl_and_parquet(
    store: Store, flt: ActivityFilter, lang: str
) -> tuple[list[str], list[dict[str, Any]]]:
    jsonl = b"".join(stream_jsonl(store, flt, lang)).decode().splitlines()
    table = pq.read_table(io.BytesIO(b"".join(stream_parquet(store, flt, lang))))
    return jsonl, table.to_pylist()


def _make_stale(store: Store, lang: str) -> None:
    """Mark every row's `lang` texts as written by another catalog (a mutation, waited for)."""
    if lang == "en":
        store.command(
            f"ALTER TABLE {ACTIVITY_TABLE} UPDATE {digest_column(lang)} = 1 WHERE 1 "
            "SETTINGS mutations_sync = 1"
        )
    else:  # a MATERIALIZED column takes another expression, then is written from it
        store.command(
            f"ALTER TABLE {ACTIVITY_TABLE} MODIFY COLUMN {digest_column(lang)} UInt64 "
            "MATERIALIZED 1"
        )
        store.command(
            f"ALTER TABLE {ACTIVITY_TABLE} MATERIALIZE COLUMN {digest_column(lang)} "
            "SETTINGS mutations_sync = 1"
        )


def test_an_edited_catalog_renders_in_sql_until_migrate_re_renders(
    store: Store, edit_catalogs: Callable[[], None]
) -> None:
    edit_catalogs()
    flt = _everything()
    for lang in LANGUAGES:
        assert not stored_current(store, flt, lang)  # every row holds the old wording
        written = _csv(store, flt, lang)
        assert any(EDITED[lang] in row[2] for row in written)
        assert written == _python_csv(store, flt, lang)
    done = rerender(store)
    assert set(done) == set(LANGUAGES) and all(rows == SIMULATED for rows in done.values())
    for lang in LANGUAGES:
        assert stored_current(store, flt, lang)
        assert _check_stored_equals_sql_and_python(store, lang) == SIMULATED
        written = _csv(store, flt, lang)
        assert any(EDITED[lang] in row[2] for row in written)
        assert written == _python_csv(store, flt, lang)
        assert stale_months(store, None, lang) == []
    assert rerender(store) == dict.fromkeys(LANGUAGES, 0)  # idempotent


def test_english_rows_stored_before_a_wording_change_are_re_rendered(store: Store) -> None:
    """Rows written without a digest (before it existed) hold old English: never served."""
    store.command(
        f"INSERT INTO {ACTIVITY_TABLE} ({', '.join(ACTIVITY_COLUMN_NAMES)}) "  # noqa: S608
        f"SELECT {', '.join(_old_english(c) for c in ACTIVITY_COLUMN_NAMES)} "
        f"FROM {ACTIVITY_TABLE} WHERE kind = 'order' LIMIT 50"
    )
    flt = _everything()
    assert not stored_current(store, flt, "en")
    written = _csv(store, flt, "en")
    assert not any("Old English" in cell for row in written for cell in row)
    assert written == _python_csv(store, flt, "en")
    assert rerender(store)["en"] == 50
    assert stored_current(store, flt, "en")
    assert _check_stored_equals_sql_and_python(store, "en") == SIMULATED + 50
    assert _csv(store, flt, "en") == written


def test_a_stale_row_met_on_the_stored_path_fails_the_export(store: Store) -> None:
    """What a row written by another version between the check and the read meets."""
    flt = _everything()
    assert stored_current(store, flt, "en")
    select = csv_select("en", stored=True)  # the path the check chose
    store.command(
        f"INSERT INTO {ACTIVITY_TABLE} ({', '.join(ACTIVITY_COLUMN_NAMES)}) "  # noqa: S608
        f"SELECT {', '.join(_old_english(c) for c in ACTIVITY_COLUMN_NAMES)} "
        f"FROM {ACTIVITY_TABLE} LIMIT 1"
    )
    where, params = guarded(True, "en", *flt.where())
    with pytest.raises(StoreUnavailable, match=STALE_MESSAGE):
        store.query_formatted(
            export_query(select, where, CSV_SETTINGS, prewhere=flt.key_where()), params, "CSV"
        )
    assert not stored_current(store, flt, "en")  # the next export renders in SQL


def _old_english(column: str) -> str:
    return {
        "event_id": "concat('old-', event_id)",
        "action_text": "'Old English action'",
        "status_text": "'Old English status'",
        "additional_info": "'Old English details'",
    }.get(column, column)


def test_a_migrate_killed_mid_re_render_finishes_on_the_next_run(tmp_path: Path) -> None:
    """kill -9 of `activitylog migrate` while its English mutation runs: the next run waits
    for the mutation ClickHouse resumed, re-renders what is left and leaves every row once,
    current."""
    path = tmp_path / "ch"
    months = 4
    store = _open(path)
    try:
        fill_store(store, SIMULATED, seed=15, seed_events=SIMULATED)
        for back in range(1, months):  # the same rows in earlier months, written with no digest
            shifted = {"occurred_at": f"occurred_at - INTERVAL {back} MONTH"}
            columns = ", ".join(shifted.get(c, c) for c in ACTIVITY_COLUMN_NAMES)
            store.command(
                f"INSERT INTO {ACTIVITY_TABLE} ({', '.join(ACTIVITY_COLUMN_NAMES)}) "  # noqa: S608
                f"SELECT {columns} FROM {ACTIVITY_TABLE} WHERE occurred_at >= {{start:DateTime64}}",
                {"start": MONTH_END - timedelta(days=31)},
            )
        total = int(store.query_rows(f"SELECT count() FROM {ACTIVITY_TABLE}")[0][0])  # noqa: S608
        assert len(stale_months(store, None, "en")) >= months - 1
    finally:
        store.close()
    env = {**os.environ, "ACTIVITYLOG_CLICKHOUSE_URL": f"chdb://{path}"}
    child = subprocess.Popen(
        [sys.executable, "-m", "activitylog.cli", "migrate"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.stderr is not None
    try:
        for line in child.stderr:  # printed once the mutation is under way
            if b"re-rendering en texts:" in line:
                break
        else:
            pytest.fail("migrate printed no progress before it ended")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        assert child.wait(timeout=60) == -signal.SIGKILL  # killed before it ended
    store = _open(path)
    try:
        rerender(store)
        assert int(store.query_rows(f"SELECT count() FROM {ACTIVITY_TABLE}")[0][0]) == total  # noqa: S608
        for lang in LANGUAGES:
            assert stale_months(store, None, lang) == []
            assert _check_stored_equals_sql_and_python(store, lang) == total
    finally:
        store.close()
