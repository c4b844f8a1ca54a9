"""The cluster variant of the DDL is generated from the same migrations."""

from __future__ import annotations

from schemas.activity import ACTIVITY_COLUMNS
from schemas.ddl import data_table, render, retention_statement
from schemas.migrate import _statements, migration_files


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
