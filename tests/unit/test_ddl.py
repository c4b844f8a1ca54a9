"""The cluster variant of the DDL is generated from the same migrations."""

from __future__ import annotations

import pytest

from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_COLUMNS
from schemas.ddl import RETAINED_TABLES, data_table, render, retention_statement, view_backfill
from schemas.migrate import _statements, migration_files
from schemas.stored_texts import MATERIALIZED_LANGUAGES, add_columns, modify_columns


def _first_migration() -> list[str]:
    return _statements(migration_files()[0][1])


def test_single_server_statements_are_unchanged() -> None:
    for statement in _first_migration():
        assert render(statement, None) == [statement]


def test_cluster_variant_is_replicated_local_plus_distributed() -> None:
    create = _first_migration()[0]
    local, distributed = render(create, "prod")
    assert local.startswith("CREATE TABLE IF NOT EXISTS activity_local ON CLUSTER `prod`")
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}'" in local
    for column in ACTIVITY_COLUMNS:
        assert f"\n    {column} " in local
    assert "ORDER BY (partner_id, occurred_at, event_id)" in local
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS activity ON CLUSTER `prod` AS activity_local "
        "ENGINE = Distributed(`prod`, currentDatabase(), activity_local, cityHash64(partner_id))"
    )


def test_alters_go_to_the_local_table_on_the_cluster() -> None:
    assert render("ALTER TABLE activity ADD INDEX i x TYPE minmax", "c") == [
        "ALTER TABLE activity_local ON CLUSTER `c` ADD INDEX i x TYPE minmax"
    ]
    assert render("ALTER TABLE other ADD COLUMN y UInt8", "c") == [
        "ALTER TABLE other ON CLUSTER `c` ADD COLUMN y UInt8"
    ]


def test_retention_statements() -> None:
    assert data_table(None) == "activity" and data_table("c") == "activity_local"
    assert retention_statement(90, None).endswith(
        "MODIFY TTL toDateTime(occurred_at) + INTERVAL 90 DAY"
    )
    assert retention_statement(0, "c") == "ALTER TABLE activity_local ON CLUSTER `c` REMOVE TTL"


# The migrations that add access paths: two tables, then a view feeding each.
ACCESS_PATHS = {
    "0004_access_paths": ("activity_by_event", "activity_by_customer"),
    "0009_records_by_event": ("activity_records", "activity_by_correlation"),
}


def _access_paths(version: str = "0004_access_paths") -> list[str]:
    return _statements(dict(migration_files())[version])


@pytest.mark.parametrize("version", sorted(ACCESS_PATHS))
def test_access_path_tables_are_local_plus_distributed_like_activity(version: str) -> None:
    for statement, table in zip(_access_paths(version)[:2], ACCESS_PATHS[version], strict=True):
        local, distributed = render(statement, "prod")
        assert local.startswith(f"CREATE TABLE IF NOT EXISTS {table}_local ON CLUSTER `prod`\n(")
        assert "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/" in local
        assert distributed == (
            f"CREATE TABLE IF NOT EXISTS {table} ON CLUSTER `prod` AS {table}_local "
            f"ENGINE = Distributed(`prod`, currentDatabase(), {table}_local, "
            "cityHash64(partner_id))"
        )


@pytest.mark.parametrize("version", sorted(ACCESS_PATHS))
def test_views_read_the_local_activity_and_write_the_local_table_on_a_cluster(
    version: str,
) -> None:
    views = _access_paths(version)[2:]
    assert len(views) == 2
    for statement in views:
        assert render(statement, None) == [statement]
        (rendered,) = render(statement, "prod")
        target, select = view_backfill(statement) or ("", "")
        assert rendered.startswith(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {target}_mv ")
        assert f" ON CLUSTER `prod` TO {target}_local AS SELECT " in rendered
        assert rendered.endswith("\nFROM activity_local")
        assert select.startswith("SELECT ") and select.endswith("\nFROM activity")


def test_only_views_on_activity_are_backfilled() -> None:
    for version in ACCESS_PATHS:
        backfilled = [view_backfill(s) is not None for s in _access_paths(version)]
        assert backfilled == [False, False, True, True]
    assert all(view_backfill(s) is None for s in _first_migration())
    assert view_backfill("CREATE MATERIALIZED VIEW IF NOT EXISTS v TO t AS SELECT x FROM y") is None


@pytest.mark.parametrize("version", sorted(ACCESS_PATHS))
def test_views_select_their_targets_columns_in_order(version: str) -> None:
    """The backfill inserts the view's SELECT by position: its columns are the target's."""
    statements = _access_paths(version)
    for create, view in zip(statements[:2], statements[2:], strict=True):
        columns = [line.split()[0] for line in create.split("(", 1)[1].splitlines()[1:]]
        columns = [c for c in columns if c not in (")", "ENGINE", "ORDER", "SETTINGS")]
        _, select = view_backfill(view) or ("", "")
        listed = select.removeprefix("SELECT").rsplit("FROM", 1)[0]
        assert [c.strip() for c in listed.split(",")] == columns


def test_retention_covers_the_access_paths() -> None:
    assert data_table("c", "activity_by_event") == "activity_by_event_local"
    assert retention_statement(30, "c", "activity_by_customer") == (
        "ALTER TABLE activity_by_customer_local ON CLUSTER `c` "
        "MODIFY TTL toDateTime(occurred_at) + INTERVAL 30 DAY"
    )
    assert RETAINED_TABLES == (
        "activity",
        "activity_by_event",
        "activity_by_customer",
        "activity_records",
        "activity_by_correlation",
        "activity_customer_names",
    )


def test_the_names_table_keeps_its_version_column_on_a_cluster_and_is_backfilled() -> None:
    create, view = _access_paths("0010_customer_names")
    local, distributed = render(create, "prod")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', "
        "'{replica}', occurred_at)\nORDER BY (partner_id, customer_name, customer_id)"
    ) in local
    assert distributed.startswith(
        "CREATE TABLE IF NOT EXISTS activity_customer_names ON CLUSTER `prod` "
        "AS activity_customer_names_local ENGINE = Distributed("
    )
    assert view_backfill(view) == (
        "activity_customer_names",
        "SELECT partner_id, customer_name, customer_id, occurred_at\nFROM activity",
    )


def test_the_records_table_holds_every_activity_column_in_small_granules() -> None:
    """A column added to activity must be added to activity_records (and its view) too."""
    create = _access_paths("0009_records_by_event")[0]
    columns = [line.split()[0] for line in create.split("(", 1)[1].splitlines()[1:]]
    assert sorted(columns[: columns.index(")")]) == sorted(ACTIVITY_COLUMN_NAMES)
    local, _ = render(create, "prod")
    assert local.endswith(
        "ORDER BY (event_id, partner_id, occurred_at)\n"
        "SETTINGS index_granularity = 1024, min_compress_block_size = 16384, "
        "max_compress_block_size = 262144"
    )


def test_the_read_indexes_are_added_and_built_on_each_shards_local_table() -> None:
    statements = _statements(dict(migration_files())["0005_read_indexes"])
    assert len(statements) == 4
    rendered = [render(statement, "prod") for statement in statements]
    assert all(len(out) == 1 for out in rendered)
    assert all(
        out[0].startswith("ALTER TABLE activity_local ON CLUSTER `prod` ") for out in rendered
    )
    assert sum("MATERIALIZE INDEX" in out[0] for out in rendered) == 2
    assert all(view_backfill(statement) is None for statement in statements)


def test_stored_text_columns_change_the_local_and_the_distributed_table_on_a_cluster() -> None:
    """A Distributed table's columns are its own: an added column must reach it too, after
    the shards' local tables; a mutation (UPDATE, MATERIALIZE) runs on the local tables."""
    (statement,) = _statements(dict(migration_files())["0008_stored_texts"])
    assert render(statement, None) == [statement]
    local, distributed = render(statement, "prod")
    assert local.startswith("ALTER TABLE activity_local ON CLUSTER `prod` ADD COLUMN IF NOT")
    assert distributed.startswith("ALTER TABLE activity ON CLUSTER `prod` ADD COLUMN IF NOT")
    for lang in MATERIALIZED_LANGUAGES:
        for change in (add_columns(lang), modify_columns(lang)):
            rendered = render(change, "c")
            assert [r.split(" ON CLUSTER")[0] for r in rendered] == [
                "ALTER TABLE activity_local",
                "ALTER TABLE activity",
            ]
            assert "MATERIALIZED" in rendered[1] and "activity.details" not in rendered[1]
    assert render("ALTER TABLE activity MATERIALIZE COLUMN x_fr", "c") == [
        "ALTER TABLE activity_local ON CLUSTER `c` MATERIALIZE COLUMN x_fr"
    ]
    assert render("ALTER TABLE activity UPDATE x = 1 WHERE 1", "c") == [
        "ALTER TABLE activity_local ON CLUSTER `c` UPDATE x = 1 WHERE 1"
    ]
