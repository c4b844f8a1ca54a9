"""Configuration enters in one place and bad values name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from common.settings import Settings, parse_api_keys
from common.store import parse_clickhouse_url


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
    ("name", "value"),
    [
        ("ACTIVITYLOG_API_PORT", "eighty"),
        ("ACTIVITYLOG_API_PORT", "70000"),
        ("ACTIVITYLOG_KAFKA_BOOTSTRAP", "localhost"),
        ("ACTIVITYLOG_API_KEYS", "justakey"),
        ("ACTIVITYLOG_BATCH_MAX_SECONDS", "soon"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert info.value.name == name


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
