"""The store's memory bounds reach real chDB: the engine's, each cache's, each query's.

chDB takes the engine-wide bounds from the connection that starts its engine,
so each test opens a directory of its own with no other store open: its first
connection starts the engine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from common.errors import StoreUnavailable
from common.settings import Settings
from common.store import Store
from schemas.migrate import migrated_store

CAP_SYS_NICE = 23  # linux/capability.h
# More than 32 MiB for one query: an array of 20 million UInt64 in one aggregate state.
HUNGRY = "SELECT length(groupArray(number)) FROM numbers(20000000)"
# A sort of the same 160 MB, which may spill to disk instead.
SORTED = "SELECT count() FROM (SELECT number FROM numbers(20000000) ORDER BY number DESC)"


def _server_settings(store: Store, *names: str) -> dict[str, int]:
    rows = store.query_rows(
        "SELECT name, value FROM system.server_settings WHERE name IN {names:Array(String)}",
        {"names": list(names)},
    )
    return {name: int(value) for name, value in rows}


def _query_settings(store: Store) -> tuple[int, int]:
    rows = store.query_rows("SELECT getSetting('max_memory_usage'), getSetting('max_threads')")
    return int(rows[0][0]), int(rows[0][1])


def test_the_defaults_bound_the_embedded_engine(tmp_path: Path) -> None:
    store = Store.open(f"chdb://{tmp_path / 'ch'}")
    try:
        engine = _server_settings(
            store,
            "max_server_memory_usage",
            "mark_cache_size",
            "text_index_postings_cache_size",
            "compiled_expression_cache_size",
        )
        # The caches and the engine are bounded; a query's memory is ClickHouse's own
        # unless an operator bounds it (a default batch's insert must not fail).
        assert engine["mark_cache_size"] == engine["text_index_postings_cache_size"] == 64 << 20
        assert engine["compiled_expression_cache_size"] == 64 << 20
        assert engine["max_server_memory_usage"] == 1 << 30
        assert _query_settings(store)[0] == 0
    finally:
        store.close()


def _running_merge_nice_values() -> set[int]:
    """The nice values of this process's merge threads that are running now."""
    values = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        if name == "MergeMutate" and fields[0] == "R":
            values.add(int(fields[16]))
    return values


def _may_change_nice_values() -> bool:
    status = Path("/proc/self/status").read_text()
    caps = next(line for line in status.splitlines() if line.startswith("CapEff:"))
    return bool(int(caps.split()[1], 16) >> CAP_SYS_NICE & 1)


def test_an_api_s_merges_run_at_a_lower_priority_than_its_reads(tmp_path: Path) -> None:
    settings = Settings(clickhouse_url=f"chdb://{tmp_path / 'ch'}").for_role(ingests=False)
    store = Store.from_settings(settings)
    try:
        assert _server_settings(store, "os_threads_nice_value_merge_mutate") == {
            "os_threads_nice_value_merge_mutate": 10
        }
        if not _may_change_nice_values():
            pytest.skip("ClickHouse sets nice values only with CAP_SYS_NICE")
        store.command("CREATE TABLE parts (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
        insert = (
            "INSERT INTO parts SELECT number, repeat(toString(number), 20) FROM numbers(300000)"
        )
        seen: set[int] = set()
        deadline = time.monotonic() + 60
        while 10 not in seen and time.monotonic() < deadline:
            if not store.query_rows("SELECT 1 FROM system.merges LIMIT 1"):
                store.command(insert)  # parts to merge, until a merge is seen running
            seen |= _running_merge_nice_values()
        assert 10 in seen, f"no merge thread seen running at nice 10 (saw {seen})"
        assert os.getpriority(os.PRIO_PROCESS, 0) == 0  # this (reading) thread keeps its own
    finally:
        store.close()


def test_operator_bounds_apply_to_every_connection_and_a_hungry_query_fails_clearly(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env(
        {
            "ACTIVITYLOG_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}",
            "ACTIVITYLOG_CLICKHOUSE_MEMORY_BYTES": "700M",
            "ACTIVITYLOG_CLICKHOUSE_CACHE_BYTES": "16M",
            "ACTIVITYLOG_CLICKHOUSE_QUERY_MEMORY_BYTES": "32M",
            "ACTIVITYLOG_CLICKHOUSE_MAX_THREADS": "1",
        }
    )
    store = Store.from_settings(settings)
    try:
        assert _server_settings(store, "max_server_memory_usage", "index_mark_cache_size") == {
            "max_server_memory_usage": 700 << 20,
            "index_mark_cache_size": 16 << 20,
        }
        assert _query_settings(store) == (32 << 20, 1)
        # The export stream runs on a chDB connection of its own: the same bounds.
        streamed = b"".join(
            store.stream_formatted(
                "SELECT getSetting('max_memory_usage'), getSetting('max_threads')", {}, "TSV"
            )
        )
        assert streamed == f"{32 << 20}\t1\n".encode()

        with pytest.raises(StoreUnavailable) as info:
            store.query_rows(HUNGRY)
        assert info.value.ch_name == "MEMORY_LIMIT_EXCEEDED"
        assert "maximum: 32.00 MiB" in str(info.value)
        # A sort past half the bound goes to disk rather than failing.
        assert store.query_rows(SORTED) == [(20_000_000,)]
        assert store.ping()
    finally:
        store.close()


def test_zero_leaves_clickhouse_unbounded(tmp_path: Path) -> None:
    settings = Settings(
        clickhouse_url=f"chdb://{tmp_path / 'ch'}",
        clickhouse_cache_bytes=0,
        clickhouse_query_memory_bytes=0,
        clickhouse_merge_nice=0,
    )
    store = Store.from_settings(settings)
    try:
        assert _server_settings(store, "mark_cache_size", "os_threads_nice_value_merge_mutate") == {
            "mark_cache_size": 5 << 30,
            "os_threads_nice_value_merge_mutate": 0,
        }
        assert _query_settings(store)[0] == 0
        assert store.query_rows(HUNGRY) == [(20_000_000,)]
    finally:
        store.close()


def test_the_migrated_store_a_process_opens_first_starts_the_engine_with_its_bounds(
    tmp_path: Path,
) -> None:
    settings = Settings(clickhouse_url=f"chdb://{tmp_path / 'ch'}", clickhouse_cache_bytes=8 << 20)
    store = migrated_store(settings)
    try:
        assert _server_settings(store, "mark_cache_size") == {"mark_cache_size": 8 << 20}
    finally:
        store.close()
