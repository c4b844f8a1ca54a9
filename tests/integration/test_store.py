"""The store against real chDB: migrations, the table spec, retention, one process per directory."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from common.errors import ConfigError, StoreUnavailable
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


def test_an_insert_lets_go_of_the_batch_and_reuses_its_context(tmp_path: Path) -> None:
    """The worker inserts a batch a second: a batch the client kept until a full cycle
    collection (its insert context refers to itself) would grow `serve` without bound
    under the worker's rare collections (processors/worker.py)."""
    store = Store.open(f"chdb://{tmp_path / 'ch'}")
    gc.disable()
    try:
        store.command("CREATE TABLE t (a String, b UInt32) ENGINE = MergeTree ORDER BY a")
        for n in range(3):
            names = [f"{n}-{i}" for i in range(1000)]
            numbers = list(range(1000))
            held = sys.getrefcount(names), sys.getrefcount(numbers)
            store.insert_columns("t", [names, numbers], ("a", "b"))
            assert (sys.getrefcount(names), sys.getrefcount(numbers)) == held
        assert store.query_rows("SELECT count(), uniqExact(a) FROM t") == [(3000, 3000)]
        # One context for the three inserts: the column types were asked for once.
        assert len(store._insert_contexts) == 1
    finally:
        gc.enable()
        store.close()


def test_an_insert_after_a_failed_one_asks_for_the_types_again(tmp_path: Path) -> None:
    store = Store.open(f"chdb://{tmp_path / 'ch'}")
    try:
        store.command("CREATE TABLE t (a String, b UInt32) ENGINE = MergeTree ORDER BY a")
        store.insert_columns("t", [["x"], [1]], ("a", "b"))
        store.command("DROP TABLE t")
        with pytest.raises(StoreUnavailable):
            store.insert_columns("t", [["y"], [2]], ("a", "b"))
        store.command("CREATE TABLE t (a String, b String) ENGINE = MergeTree ORDER BY a")
        store.insert_columns("t", [["z"], ["two"]], ("a", "b"))
        assert store.query_rows("SELECT a, b FROM t") == [("z", "two")]
    finally:
        store.close()
