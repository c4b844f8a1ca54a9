"""The store against real chDB: migrations, the table spec, retention, one process per directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from common.store import Store
from schemas.activity import ACTIVITY_COLUMNS, ACTIVITY_TABLE
from schemas.migrate import apply_migrations, open_migrated
from schemas.stored_texts import stored_text_columns


def _engine(store: Store) -> str:
    rows = store.query_rows(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
        "AND name = {t:String}",
        {"t": ACTIVITY_TABLE},
    )
    return str(rows[0][0])


def test_migrations_produce_exactly_the_table_spec_and_are_idempotent(tmp_path: Path) -> None:
    store = open_migrated(f"chdb://{tmp_path / 'ch'}")
    try:
        columns = store.query_rows(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() "
            "AND table = {t:String} ORDER BY position",
            {"t": ACTIVITY_TABLE},
        )
        # The row's columns, then the texts stored in every language (schemas/stored_texts.py).
        expected = ACTIVITY_COLUMNS | stored_text_columns()
        assert dict(columns) == expected
        assert list(dict(columns)) == list(expected)
        assert apply_migrations(store) == []
    finally:
        store.close()


def test_retention_ttl_follows_the_setting(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'ch'}"
    store = open_migrated(url, retention_days=400)
    try:
        assert "toIntervalDay(400)" in _engine(store)
    finally:
        store.close()
    store = open_migrated(url, retention_days=0)
    try:
        assert " TTL " not in _engine(store)
    finally:
        store.close()


def test_a_cluster_needs_a_server(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        open_migrated(f"chdb://{tmp_path / 'ch'}", cluster="prod")
