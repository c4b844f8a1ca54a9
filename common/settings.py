"""The one place the environment is read (docs/contracts.md): a typed, frozen settings object.

Every setting has a default that works on a laptop. The CLI and the app
factories call `Settings.from_env()` once and pass the result down;
`Settings(...)` alone reads nothing, so a test or a caller gets exactly the
values it names. pydantic-settings maps each field to `ACTIVITYLOG_<FIELD>`;
the rule beside a field parses the text of its variable and raises a
`ConfigError` that names the variable (pydantic lets that error through as
it is, so no validation dump reaches a person).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import AliasChoices, BeforeValidator, Field, ValidationInfo, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from common.api_keys import split_name
from common.errors import ConfigError

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_CLICKHOUSE_URL = "chdb://./.activitylog/clickhouse"
DEFAULT_KAFKA_VERSION = "4.1.1"
# The partner of an API key that reads every partner (`KEY=*` in ACTIVITYLOG_API_KEYS); an
# export made with such a key is recorded, chained and audited under this partner id.
ALL_PARTNERS: Final = "*"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
ENV_PREFIX: Final = "ACTIVITYLOG_"
# The merges' nice value in a process that serves reads and inserts nothing (`api`).
READER_MERGE_NICE: Final = 10


def parse_api_keys(text: str, variable: str = "ACTIVITYLOG_API_KEYS") -> dict[str, str]:
    """Parse `name1:key1=partner_id,key2=*` into {[name:]key: partner_id} (common/api_keys.py).

    Entries are separated by commas or new lines; in a keys file a line
    starting with `#` is a comment. A name may be given once only.
    """
    keys: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        for item in line.split(","):
            item = item.strip()
            if not item:
                continue
            left, sep, partner = item.partition("=")
            left, partner = left.strip(), partner.strip()
            if not sep or not left or not partner:
                raise ConfigError(
                    variable,
                    f"entry {item.split('=')[0][:4]}... must look like "
                    "NAME:KEY=PARTNER_ID, KEY=PARTNER_ID or KEY=*",
                )
            if left in keys:
                raise ConfigError(variable, f"entry {left[:4]}... is given twice")
            keys[left] = partner
    if not keys:
        raise ConfigError(variable, "is set but names no key")
    check_unique_keys(keys, variable)
    return keys


def check_unique_keys(keys: Mapping[str, str], variable: str) -> None:
    """Each name and each key once: history and audit must say which key acted."""
    names: set[str] = set()
    seen: set[str] = set()
    for left in keys:
        name, key = split_name(left)
        if name is not None and name in names:
            raise ConfigError(variable, f"key name {name!r} is given twice")
        if key in seen:
            raise ConfigError(variable, f"the key of entry {left[:4]}... is given twice")
        if name is not None:
            names.add(name)
        seen.add(key)


def _api_keys(_name: str, text: str) -> dict[str, str] | None:
    """A blank variable is an unset one: no keys, loopback only."""
    return parse_api_keys(text) if text.strip() else None


def read_api_keys_file(path: Path) -> dict[str, str]:
    """The entries of `ACTIVITYLOG_API_KEYS_FILE` (one `[NAME:]KEY=PARTNER` a line)."""
    name = "ACTIVITYLOG_API_KEYS_FILE"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(name, f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(name, f"{path} is not UTF-8 text") from None
    return parse_api_keys(text, name)


def _bootstrap(name: str, value: str) -> str:
    for server in value.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(name, f"{server!r} is not HOST:PORT (e.g. 127.0.0.1:9092)")
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


_SIZE = re.compile(r"(\d+)\s*([KMG]?)i?B?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _bytes(name: str, value: str, hi: int) -> int:
    """A size in bytes, whole or with a binary unit (`256M`, `1G`, `512MiB`)."""
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise ConfigError(name, f"{value!r} is not a size in bytes (e.g. 268435456 or 256M)")
    n = int(match.group(1)) * _UNITS[match.group(2).upper()]
    if n > hi:
        raise ConfigError(name, f"{n} is outside 0..{hi}")
    return n


def _from_text(parse: Callable[[str, str], Any]) -> BeforeValidator:
    """Run `parse(variable, text)` on a value given as text, the form the environment gives.

    A typed value (`Settings(api_port=9000)`) is the caller's and passes as it is.
    """

    def before(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and info.field_name is not None:
            return parse(variable(info.field_name), value)
        return value

    return BeforeValidator(before)


def _whole(lo: int, hi: int) -> BeforeValidator:
    return _from_text(lambda name, text: _int(name, text, lo, hi))


def _number(lo: float, hi: float) -> BeforeValidator:
    return _from_text(lambda name, text: _float(name, text, lo, hi))


def _size(hi: int = 1 << 40) -> BeforeValidator:
    return _from_text(lambda name, text: _bytes(name, text, hi))


class Settings(BaseSettings):
    """Everything configurable, with the defaults of docs/contracts.md."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="forbid"
    )

    kafka_bootstrap: Annotated[str, _from_text(_bootstrap)] = DEFAULT_BOOTSTRAP
    clickhouse_url: str = DEFAULT_CLICKHOUSE_URL
    # Server mode on a ClickHouse cluster: the cluster name enables the replicated
    # + distributed variant of the DDL (docs/operations.md, operations guide).
    clickhouse_cluster: Annotated[str | None, _from_text(_identifier)] = None
    # TLS to a ClickHouse server: verify the certificate (and against this CA file).
    clickhouse_verify: Annotated[bool, _from_text(_bool)] = True
    clickhouse_ca_cert: Path | None = None
    # What the store may hold in memory (docs/operations.md, Memory). The embedded engine's
    # own defaults are sized for a server of its own (5 GiB for each of several caches, 90%
    # of RAM in all). The engine-wide bounds act in embedded mode; a query's bounds also go
    # to a ClickHouse server. 0 leaves ClickHouse's own value. The engine's 1 GiB keeps
    # `serve` (worker + API + engine) under 1.5 GB through `make soak`.
    clickhouse_memory_bytes: Annotated[int, _size()] = 1 << 30
    clickhouse_cache_bytes: Annotated[int, _size()] = 64 << 20
    clickhouse_query_memory_bytes: Annotated[int, _size()] = 0
    clickhouse_max_threads: Annotated[int, _whole(0, 1024)] = 0
    # The Linux nice value of the embedded engine's merge threads (docs/operations.md,
    # Memory). Unset: `READER_MERGE_NICE` in a process that only reads, so the reads take
    # the CPU before the merges, and the engine's own in one that ingests (`for_role`).
    clickhouse_merge_nice: Annotated[int | None, _whole(0, 19)] = None
    # Rows older than this many days are dropped by a TTL; 0 keeps everything.
    retention_days: Annotated[int, _whole(0, 36_500)] = 0
    api_host: str = "127.0.0.1"
    api_port: Annotated[int, _whole(1, 65535)] = 8080
    # [NAME:]API key -> partner id ("*" = every partner); None = no auth (loopback only).
    # NoDecode: the variable is `NAME:KEY=PARTNER,...`, not the JSON pydantic-settings expects.
    # The entries of ACTIVITYLOG_API_KEYS_FILE join them (common/api_keys.py).
    api_keys: Annotated[
        Mapping[str, str] | None, NoDecode, _from_text(_api_keys), Field(repr=False)
    ] = None
    api_keys_file: Path | None = None
    # The HMAC secret keys are held and labelled under (None: one kept in the state dir).
    api_key_secret: str | None = Field(default=None, repr=False)
    # Key the CLI sends to a running server when it needs one.
    api_key: str | None = None
    state_dir: Path = Path(".activitylog")
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "activitylog")
    # The one variable without the prefix: Apache Kafka's own name for its home.
    kafka_home: Path | None = Field(
        default=None, validation_alias=AliasChoices("kafka_home", "KAFKA_HOME")
    )
    kafka_version: str = DEFAULT_KAFKA_VERSION
    topic_partitions: Annotated[int, _whole(1, 10_000)] = 2
    topic_replication: Annotated[int, _whole(1, 100)] = 1
    # `min.insync.replicas` of the topics we create; unset: the broker's default
    # (on a local cluster, one less than the replication).
    topic_min_insync_replicas: Annotated[int | None, _whole(1, 100)] = None
    consumer_group: str = "activitylog-worker"
    batch_max_events: Annotated[int, _whole(1, 1_000_000)] = 10_000
    batch_max_seconds: Annotated[float, _number(0.01, 600)] = 1.0
    max_event_bytes: Annotated[int, _whole(1024, 100_000_000)] = 1_000_000
    # How long the group waits for a silent worker (one killed -9) before its
    # partitions move to the others; Faust's default is 60 s.
    kafka_session_timeout: Annotated[float, _number(6, 300)] = 10.0
    # How long `produce` and `simulate` wait at the end for Kafka's answers; what is
    # still unanswered then is reported unconfirmed (and the command fails).
    produce_close_timeout: Annotated[float, _number(0, 3600)] = 60.0
    log_level: Annotated[str, _from_text(lambda _, text: text.lower())] = "info"
    # Limits that protect the API server (query/limits.py): a request body, a
    # query string, and the longest range of a direct download (3 years; export jobs take
    # longer ones).
    api_max_body_bytes: Annotated[int, _whole(1024, 1 << 30)] = 64 * 1024
    api_max_query_bytes: Annotated[int, _whole(256, 1 << 20)] = 8 * 1024
    export_max_days: Annotated[int, _whole(1, 36_500)] = 1096
    # Export manifests (docs/contracts.md): sign them with HMAC-SHA256 when a key is set;
    # the key id names it in each manifest (default: a fingerprint of the key).
    export_signing_key: str | None = Field(default=None, repr=False)
    export_signing_key_id: Annotated[str | None, _from_text(lambda _, text: text.strip())] = None
    # Export jobs (`POST /api/v1/exports`): where their files live (None = under
    # the state dir) and how long a finished file is kept.
    export_dir: Path | None = None
    export_retention_hours: Annotated[float, _number(0.0001, 87_600)] = 24.0
    # While this file exists, a running export job holds between two chunks (its status,
    # cancel and shutdown still answer): an operator's pause, and the tests' hold on a job.
    export_jobs_pause_file: Path | None = None
    # Webhook destinations (docs/contracts.md, Destinations). The key their signing secrets
    # are derived from (None: a random key kept in STATE_DIR/destinations.key, mode 0600);
    # which addresses a destination may resolve to besides public ones (SSRF guard).
    destinations_key: str | None = Field(default=None, repr=False)
    destinations_allow_loopback: Annotated[bool, _from_text(_bool)] = False
    destinations_allow_private: Annotated[bool, _from_text(_bool)] = False
    # The delivery agent (processors/delivery/): its consumer group, events per request
    # (at most 200: their ids fill the Idempotency-Key header, kept under 8 KiB), one
    # request's timeout, how long a destination may keep failing before its pending
    # events are parked on its dead-letter topic, and how many events wait per destination.
    delivery_group: str = "activitylog-delivery"
    delivery_batch_max_events: Annotated[int, _whole(1, 200)] = 100
    delivery_timeout_seconds: Annotated[float, _number(0.1, 300)] = 10.0
    delivery_failing_after_seconds: Annotated[float, _number(0.1, 86_400)] = 300.0
    delivery_max_pending: Annotated[int, _whole(1, 1_000_000)] = 10_000
    # `activitylog deliver` alone serves its Prometheus metrics on this port (0: none);
    # under `serve` they are on the API's /metrics.
    delivery_metrics_port: Annotated[int, _whole(0, 65535)] = 0

    @model_validator(mode="after")
    def _keys_file(self) -> Settings:
        """Merge the keys file's entries into `api_keys` (a key in both is an error)."""
        if self.api_keys_file is None:
            return self
        merged = dict(self.api_keys or {})
        for left, partner in read_api_keys_file(self.api_keys_file).items():
            if left in merged:
                raise ConfigError(
                    "ACTIVITYLOG_API_KEYS_FILE",
                    f"entry {left[:4]}... is also in ACTIVITYLOG_API_KEYS",
                )
            merged[left] = partner
        check_unique_keys(merged, "ACTIVITYLOG_API_KEYS_FILE")
        object.__setattr__(self, "api_keys", merged)  # frozen: set once, while validating
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the keyword arguments: the environment enters through `from_env` alone."""
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read `ACTIVITYLOG_*` (and `KAFKA_HOME`) from `env`, default `os.environ`."""
        return cls(**_Environment(cls, os.environ if env is None else env)())

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with some fields changed (CLI options win over the environment)."""
        return self.model_copy(update={k: v for k, v in values.items() if v is not None})

    def for_role(self, *, ingests: bool) -> Settings:
        """These settings for a process that runs an ingest worker or not.

        An unset merge nice value becomes `READER_MERGE_NICE` where nothing is
        ingested: there the merges only fold what a bulk load or a backfill
        left, and may wait for the reads. Where a worker inserts, the merges
        must keep up with it, or parts and memory pile up (under `make soak`'s
        load at nice 10, `serve` grew 27 MB/min and peaked at 1.77 GB).
        """
        if self.clickhouse_merge_nice is not None:
            return self
        return self.model_copy(
            update={"clickhouse_merge_nice": 0 if ingests else READER_MERGE_NICE}
        )

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


class _Environment(EnvSettingsSource):
    """pydantic-settings' reading of the variables, from a given mapping (tests pass their own)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def variable(field: str) -> str:
    """The environment variable that sets `field`: what a `ConfigError` about it names."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[-1])
    return ENV_PREFIX + field.upper()
