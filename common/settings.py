"""The one place the environment is read (docs/contracts.md): a typed, frozen settings object.

Every setting has a default that works on a laptop. The CLI and the app
factories call `Settings.from_env()` once and pass the result down.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from common.errors import ConfigError

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_CLICKHOUSE_URL = "chdb://./.activitylog/clickhouse"
DEFAULT_KAFKA_VERSION = "4.1.1"
# The partner of an API key that reads every partner (`KEY=*` in ACTIVITYLOG_API_KEYS); an
# export made with such a key is recorded, chained and audited under this partner id.
ALL_PARTNERS: Final = "*"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the defaults of docs/contracts.md."""

    kafka_bootstrap: str = DEFAULT_BOOTSTRAP
    clickhouse_url: str = DEFAULT_CLICKHOUSE_URL
    # Server mode on a ClickHouse cluster: the cluster name enables the replicated
    # + distributed variant of the DDL (docs/operations.md, operations guide).
    clickhouse_cluster: str | None = None
    # TLS to a ClickHouse server: verify the certificate (and against this CA file).
    clickhouse_verify: bool = True
    clickhouse_ca_cert: Path | None = None
    # Rows older than this many days are dropped by a TTL; 0 keeps everything.
    retention_days: int = 0
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # API key -> partner id ("*" = every partner); None = no auth (loopback only).
    api_keys: Mapping[str, str] | None = None
    # Key the CLI sends to a running server when it needs one.
    api_key: str | None = None
    state_dir: Path = Path(".activitylog")
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "activitylog")
    kafka_home: Path | None = None
    kafka_version: str = DEFAULT_KAFKA_VERSION
    topic_partitions: int = 2
    topic_replication: int = 1
    consumer_group: str = "activitylog-worker"
    batch_max_events: int = 10_000
    batch_max_seconds: float = 1.0
    max_event_bytes: int = 1_000_000
    # How long the group waits for a silent worker (one killed -9) before its
    # partitions move to the others; Faust's default is 60 s.
    kafka_session_timeout: float = 10.0
    log_level: str = "info"
    # Limits that protect the API server (query/limits.py): a request body, a
    # query string, and the longest range of a direct download (3 years; export jobs take
    # longer ones).
    api_max_body_bytes: int = 64 * 1024
    api_max_query_bytes: int = 8 * 1024
    export_max_days: int = 1096
    # Export manifests (docs/contracts.md): sign them with HMAC-SHA256 when a key is set;
    # the key id names it in each manifest (default: a fingerprint of the key).
    export_signing_key: str | None = field(default=None, repr=False)
    export_signing_key_id: str | None = None
    # Export jobs (`POST /api/v1/exports`): where their files live (None = under
    # the state dir) and how long a finished file is kept.
    export_dir: Path | None = None
    export_retention_hours: float = 24.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read `ACTIVITYLOG_*` (and `KAFKA_HOME`) from `env`, default `os.environ`."""
        e = os.environ if env is None else env
        s = cls()
        values: dict[str, Any] = {}
        if v := e.get("ACTIVITYLOG_KAFKA_BOOTSTRAP"):
            values["kafka_bootstrap"] = _bootstrap(v)
        if v := e.get("ACTIVITYLOG_CLICKHOUSE_URL"):
            values["clickhouse_url"] = v
        if v := e.get("ACTIVITYLOG_CLICKHOUSE_CLUSTER"):
            values["clickhouse_cluster"] = _identifier("ACTIVITYLOG_CLICKHOUSE_CLUSTER", v)
        if v := e.get("ACTIVITYLOG_CLICKHOUSE_VERIFY"):
            values["clickhouse_verify"] = _bool("ACTIVITYLOG_CLICKHOUSE_VERIFY", v)
        if v := e.get("ACTIVITYLOG_CLICKHOUSE_CA_CERT"):
            values["clickhouse_ca_cert"] = Path(v)
        if v := e.get("ACTIVITYLOG_RETENTION_DAYS"):
            values["retention_days"] = _int("ACTIVITYLOG_RETENTION_DAYS", v, 0, 36_500)
        if v := e.get("ACTIVITYLOG_API_HOST"):
            values["api_host"] = v
        if v := e.get("ACTIVITYLOG_API_PORT"):
            values["api_port"] = _int("ACTIVITYLOG_API_PORT", v, 1, 65535)
        if (v := e.get("ACTIVITYLOG_API_KEYS")) is not None and v.strip():
            values["api_keys"] = parse_api_keys(v)
        if v := e.get("ACTIVITYLOG_API_KEY"):
            values["api_key"] = v
        if v := e.get("ACTIVITYLOG_STATE_DIR"):
            values["state_dir"] = Path(v)
        if v := e.get("ACTIVITYLOG_CACHE_DIR"):
            values["cache_dir"] = Path(v)
        if v := e.get("KAFKA_HOME"):
            values["kafka_home"] = Path(v)
        if v := e.get("ACTIVITYLOG_KAFKA_VERSION"):
            values["kafka_version"] = v
        if v := e.get("ACTIVITYLOG_TOPIC_PARTITIONS"):
            values["topic_partitions"] = _int("ACTIVITYLOG_TOPIC_PARTITIONS", v, 1, 10_000)
        if v := e.get("ACTIVITYLOG_TOPIC_REPLICATION"):
            values["topic_replication"] = _int("ACTIVITYLOG_TOPIC_REPLICATION", v, 1, 100)
        if v := e.get("ACTIVITYLOG_CONSUMER_GROUP"):
            values["consumer_group"] = v
        if v := e.get("ACTIVITYLOG_BATCH_MAX_EVENTS"):
            values["batch_max_events"] = _int("ACTIVITYLOG_BATCH_MAX_EVENTS", v, 1, 1_000_000)
        if v := e.get("ACTIVITYLOG_BATCH_MAX_SECONDS"):
            values["batch_max_seconds"] = _float("ACTIVITYLOG_BATCH_MAX_SECONDS", v, 0.01, 600)
        if v := e.get("ACTIVITYLOG_MAX_EVENT_BYTES"):
            values["max_event_bytes"] = _int("ACTIVITYLOG_MAX_EVENT_BYTES", v, 1024, 100_000_000)
        if v := e.get("ACTIVITYLOG_KAFKA_SESSION_TIMEOUT"):
            values["kafka_session_timeout"] = _float("ACTIVITYLOG_KAFKA_SESSION_TIMEOUT", v, 6, 300)
        if v := e.get("ACTIVITYLOG_LOG_LEVEL"):
            values["log_level"] = v.lower()
        if v := e.get("ACTIVITYLOG_API_MAX_BODY_BYTES"):
            values["api_max_body_bytes"] = _int("ACTIVITYLOG_API_MAX_BODY_BYTES", v, 1024, 1 << 30)
        if v := e.get("ACTIVITYLOG_API_MAX_QUERY_BYTES"):
            values["api_max_query_bytes"] = _int("ACTIVITYLOG_API_MAX_QUERY_BYTES", v, 256, 1 << 20)
        if v := e.get("ACTIVITYLOG_EXPORT_MAX_DAYS"):
            values["export_max_days"] = _int("ACTIVITYLOG_EXPORT_MAX_DAYS", v, 1, 36_500)
        if v := e.get("ACTIVITYLOG_EXPORT_SIGNING_KEY"):
            values["export_signing_key"] = v
        if v := e.get("ACTIVITYLOG_EXPORT_SIGNING_KEY_ID"):
            values["export_signing_key_id"] = v.strip()
        if v := e.get("ACTIVITYLOG_EXPORT_DIR"):
            values["export_dir"] = Path(v)
        if v := e.get("ACTIVITYLOG_EXPORT_RETENTION_HOURS"):
            hours = _float("ACTIVITYLOG_EXPORT_RETENTION_HOURS", v, 0.0001, 87_600)
            values["export_retention_hours"] = hours
        return replace(s, **values)

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with some fields changed (CLI options win over the environment)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    @property
    def export_path(self) -> Path:
        """The directory of export-job files (`ACTIVITYLOG_EXPORT_DIR`, else STATE_DIR/exports)."""
        return self.export_dir if self.export_dir is not None else self.state_dir / "exports"

    @property
    def api_is_loopback(self) -> bool:
        return self.api_host in LOOPBACK_HOSTS or self.api_host.startswith("127.")

    @property
    def api_base_url(self) -> str:
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::") else self.api_host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.api_port}"


def parse_api_keys(text: str) -> dict[str, str]:
    """Parse `key1=partner_id,key2=*` into {key: partner_id}."""
    keys: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, partner = item.partition("=")
        key, partner = key.strip(), partner.strip()
        if not sep or not key or not partner:
            raise ConfigError(
                "ACTIVITYLOG_API_KEYS",
                f"entry {item.split('=')[0][:4]}... must look like KEY=PARTNER_ID or KEY=*",
            )
        keys[key] = partner
    if not keys:
        raise ConfigError("ACTIVITYLOG_API_KEYS", "is set but names no key")
    return keys


def _bootstrap(value: str) -> str:
    for server in value.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(
                "ACTIVITYLOG_KAFKA_BOOTSTRAP", f"{server!r} is not HOST:PORT (e.g. 127.0.0.1:9092)"
            )
    return value


def _int(name: str, value: str, lo: int, hi: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise ConfigError(name, f"{value!r} is not a whole number") from None
    if not lo <= n <= hi:
        raise ConfigError(name, f"{n} is outside {lo}..{hi}")
    return n


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"{value!r} is not true or false")


def _identifier(name: str, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", value):
        raise ConfigError(name, f"{value!r} is not a plain ClickHouse identifier")
    return value


def _float(name: str, value: str, lo: float, hi: float) -> float:
    try:
        n = float(value)
    except ValueError:
        raise ConfigError(name, f"{value!r} is not a number") from None
    if not lo <= n <= hi:
        raise ConfigError(name, f"{n} is outside {lo}..{hi}")
    return n
