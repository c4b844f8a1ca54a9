"""Configuration enters in one place and bad values name the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.errors import ConfigError
from common.settings import Settings, parse_api_keys, variable
from common.store import StoreBounds, parse_clickhouse_url

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def test_defaults_match_the_design() -> None:
    s = Settings.from_env({})
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.clickhouse_url == "chdb://./.activitylog/clickhouse"
    assert (s.api_host, s.api_port, s.api_keys) == ("127.0.0.1", 8080, None)


def test_environment_overrides() -> None:
    s = Settings.from_env(
        {
            "ACTIVITYLOG_KAFKA_BOOTSTRAP": "10.0.0.1:9093,10.0.0.2:9093",
            "ACTIVITYLOG_API_PORT": "9000",
            "ACTIVITYLOG_API_KEYS": "k1=ptn-1, k2=*",
        }
    )
    assert s.kafka_bootstrap == "10.0.0.1:9093,10.0.0.2:9093"
    assert s.api_port == 9000
    assert s.api_keys == {"k1": "ptn-1", "k2": "*"}


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("ACTIVITYLOG_API_PORT", "eighty", "'eighty' is not a whole number"),
        ("ACTIVITYLOG_API_PORT", "70000", "70000 is outside 1..65535"),
        (
            "ACTIVITYLOG_KAFKA_BOOTSTRAP",
            "localhost",
            "'localhost' is not HOST:PORT (e.g. 127.0.0.1:9092)",
        ),
        (
            "ACTIVITYLOG_API_KEYS",
            "justakey",
            "entry just... must look like NAME:KEY=PARTNER_ID, KEY=PARTNER_ID or KEY=*",
        ),
        ("ACTIVITYLOG_API_KEYS", " , ", "is set but names no key"),
        ("ACTIVITYLOG_BATCH_MAX_SECONDS", "soon", "'soon' is not a number"),
        ("ACTIVITYLOG_KAFKA_SESSION_TIMEOUT", "1", "1.0 is outside 6..300"),
        ("ACTIVITYLOG_CLICKHOUSE_VERIFY", "maybe", "'maybe' is not true or false"),
        ("ACTIVITYLOG_CLICKHOUSE_CLUSTER", "a b", "'a b' is not a plain ClickHouse identifier"),
        (
            "ACTIVITYLOG_CLICKHOUSE_MEMORY_BYTES",
            "lots",
            "'lots' is not a size in bytes (e.g. 268435456 or 256M)",
        ),
        (
            "ACTIVITYLOG_CLICKHOUSE_CACHE_BYTES",
            "-1",
            "'-1' is not a size in bytes (e.g. 268435456 or 256M)",
        ),
        (
            "ACTIVITYLOG_CLICKHOUSE_QUERY_MEMORY_BYTES",
            "2048G",
            "2199023255552 is outside 0..1099511627776",
        ),
        ("ACTIVITYLOG_CLICKHOUSE_MAX_THREADS", "2000", "2000 is outside 0..1024"),
        ("ACTIVITYLOG_CLICKHOUSE_MERGE_NICE", "-5", "-5 is outside 0..19"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert (info.value.name, info.value.reason) == (name, reason)


def test_empty_values_count_as_unset_and_kafka_home_has_no_prefix() -> None:
    s = Settings.from_env(
        {"ACTIVITYLOG_API_PORT": "", "ACTIVITYLOG_API_KEYS": "  ", "KAFKA_HOME": "/opt/kafka"}
    )
    assert (s.api_port, s.api_keys, s.kafka_home) == (8080, None, Path("/opt/kafka"))
    assert Settings.from_env({"ACTIVITYLOG_KAFKA_HOME": "/opt/kafka"}).kafka_home is None


def test_only_from_env_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIVITYLOG_API_PORT", "9001")
    assert Settings.from_env().api_port == 9001
    assert Settings().api_port == 8080
    assert Settings(api_port=9002).with_overrides(api_host="::1", api_key=None).api_base_url == (
        "http://[::1]:9002"
    )


def _documented() -> dict[str, str]:
    """Variable -> default cell of the configuration table in docs/contracts.md."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+?) \| ", CONTRACTS.read_text(), re.MULTILINE)
    return dict(rows)


def test_every_variable_and_default_is_the_documented_one() -> None:
    documented = _documented()
    defaults = Settings()
    assert set(documented) == {variable(field) for field in Settings.model_fields}
    for field in Settings.model_fields:
        cell = documented[variable(field)]
        literal = re.fullmatch(r"`([^`<]*)`", cell)
        if cell != "unset" and literal is None:
            continue  # a derived default (a path under another setting, a key's fingerprint)
        value = getattr(defaults, field)
        if literal is None:
            assert value is None, field
        elif isinstance(value, Path):
            assert value == Path(literal.group(1)).expanduser(), field
        elif isinstance(value, float):
            assert value == float(literal.group(1)), field
        elif isinstance(value, bool):
            assert str(value).lower() == literal.group(1), field
        elif str(value) != literal.group(1):  # a size written with its unit (`1G`)
            assert getattr(Settings(**{field: literal.group(1)}), field) == value, field


def test_store_bounds_read_sizes_with_binary_units() -> None:
    s = Settings.from_env(
        {
            "ACTIVITYLOG_CLICKHOUSE_MEMORY_BYTES": "1G",
            "ACTIVITYLOG_CLICKHOUSE_CACHE_BYTES": "64MiB",
            "ACTIVITYLOG_CLICKHOUSE_QUERY_MEMORY_BYTES": "1000",
            "ACTIVITYLOG_CLICKHOUSE_MAX_THREADS": "3",
            "ACTIVITYLOG_CLICKHOUSE_MERGE_NICE": "5",
        }
    )
    assert StoreBounds.from_settings(s) == StoreBounds(1 << 30, 64 << 20, 1000, 3, 5)


def test_the_merges_yield_the_cpu_to_the_reads_only_where_nothing_is_ingested() -> None:
    unset = Settings.from_env({})
    assert StoreBounds.from_settings(unset).merge_nice == 0
    assert StoreBounds.from_settings(unset.for_role(ingests=False)).merge_nice == 10
    assert StoreBounds.from_settings(unset.for_role(ingests=True)).merge_nice == 0
    for value in (0, 7):
        chosen = Settings.from_env({"ACTIVITYLOG_CLICKHOUSE_MERGE_NICE": str(value)})
        assert chosen.for_role(ingests=False).clickhouse_merge_nice == value
        assert chosen.for_role(ingests=True).clickhouse_merge_nice == value


def test_store_bounds_become_engine_options_and_query_settings() -> None:
    bounds = StoreBounds(
        memory=1 << 30, caches=32 << 20, query_memory=256 << 20, threads=2, merge_nice=10
    )
    per_query = {
        "max_memory_usage": 256 << 20,
        "max_bytes_before_external_sort": 128 << 20,
        "max_bytes_before_external_group_by": 128 << 20,
        "max_threads": 2,
        # An INSERT ... SELECT's blocks stay small under an engine bound.
        "max_insert_block_size": 65_536,
        "min_insert_block_size_rows": 65_536,
        "min_insert_block_size_bytes": 32 << 20,
    }
    assert bounds.query_settings() == per_query
    assert "max_insert_block_size" not in StoreBounds(0, 0, 256 << 20, 2).query_settings()
    options = bounds.engine_options()
    assert options["max_server_memory_usage"] == 1 << 30
    assert options["mark_cache_size"] == options["text_index_postings_cache_size"] == 32 << 20
    assert options["compiled_expression_cache_size"] == 32 << 20
    assert options["os_threads_nice_value_merge_mutate"] == 10
    assert options.items() >= per_query.items()
    # 0 leaves ClickHouse's own value: nothing is passed for it.
    assert StoreBounds(0, 0, 0, 0).engine_options() == {}


def test_api_key_errors_never_echo_the_whole_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_api_keys("supersecretvalue")
    assert "supersecretvalue" not in str(info.value)


def test_chdb_urls_are_paths_relative_or_absolute() -> None:
    assert parse_clickhouse_url("chdb://./x/y").path == Path("./x/y")
    assert parse_clickhouse_url("chdb:///var/lib/al").path == Path("/var/lib/al")
    with pytest.raises(ConfigError):
        parse_clickhouse_url("chdb://")


def test_server_urls_carry_credentials_tls_and_database() -> None:
    loc = parse_clickhouse_url("https://al%40svc:p%3Ass@ch.internal:8443/audit")
    assert (loc.mode, loc.host, loc.port, loc.database, loc.secure) == (
        "server",
        "ch.internal",
        8443,
        "audit",
        True,
    )
    assert (loc.username, loc.password) == ("al@svc", "p:ss")
    assert "p:ss" not in loc.describe()
    assert parse_clickhouse_url("http://h").port == 8123


@pytest.mark.parametrize(
    "url", ["postgres://h/db", "http://", "http://h:99999/db", "http://h/bad-db"]
)
def test_bad_store_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_clickhouse_url(url)
