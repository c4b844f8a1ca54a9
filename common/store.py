"""The ClickHouse store: URL parsing, one client API for both modes, the embedded stream.

Two modes share this code path (docs/contracts.md, Storage modes): *embedded* (`chdb://PATH`, the
real engine in-process through clickhouse-connect's chDB backend) and
*server* (`http(s)://user:pass@host:port/db`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import unquote, urlencode, urlsplit

from common.errors import ConfigError, StoreUnavailable
from common.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "activitylog"


@dataclass(frozen=True)
class StoreLocation:
    """Where the activity table lives, parsed from `ACTIVITYLOG_CLICKHOUSE_URL`."""

    mode: Literal["embedded", "server"]
    path: Path | None = None
    host: str = ""
    port: int = 0
    username: str = "default"
    password: str = ""
    database: str = "default"
    secure: bool = False

    def describe(self) -> str:
        """A human description without the password."""
        if self.mode == "embedded":
            return f"embedded ClickHouse (chDB) at {self.path}"
        scheme = "https" if self.secure else "http"
        return f"ClickHouse server {scheme}://{self.host}:{self.port}/{self.database}"


def parse_clickhouse_url(url: str) -> StoreLocation:
    """Parse `chdb://PATH` or `http(s)://user:pass@host:port/db`.

    We parse `chdb://` ourselves: clickhouse-connect's DSN parser reads
    `chdb://./x/y` as host `.` and database `x/y` (docs/contracts.md, Configuration, CLI and HTTP).
    """
    name = "ACTIVITYLOG_CLICKHOUSE_URL"
    if url.startswith("chdb://"):
        raw = url[len("chdb://") :]
        if not raw:
            raise ConfigError(name, "chdb:// needs a directory path, e.g. chdb://./data/ch")
        return StoreLocation(mode="embedded", path=Path(raw))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(
            name, f"unsupported scheme {parts.scheme!r}: use chdb://PATH or http(s)://host:port/db"
        )
    if not parts.hostname:
        raise ConfigError(name, "the URL names no host")
    try:
        port = parts.port or (8443 if parts.scheme == "https" else 8123)
    except ValueError:
        raise ConfigError(name, "the port is not a number in 1..65535") from None
    database = parts.path.strip("/") or "default"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise ConfigError(name, f"database name {database!r} is not a plain identifier")
    return StoreLocation(
        mode="server",
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else "default",
        password=unquote(parts.password) if parts.password else "",
        database=database,
        secure=parts.scheme == "https",
    )


# The embedded engine's caches that `ACTIVITYLOG_CLICKHOUSE_CACHE_BYTES` bounds, each.
_ENGINE_CACHES = (
    "mark_cache_size",
    "index_mark_cache_size",
    "primary_index_cache_size",
    "query_condition_cache_size",
    "text_index_tokens_cache_size",
    "text_index_header_cache_size",
    "text_index_postings_cache_size",
    # Compiled expressions (128 MiB by default): every distinct filter the pages
    # and exports send compiles some, and a long-running process keeps them.
    "compiled_expression_cache_size",
)


# Rows of one block an INSERT ... SELECT writes under an engine bound (StoreBounds):
# ClickHouse's own SELECT block, so a backfill's parts are as big as a worker batch's.
INSERT_BLOCK_ROWS: Final = 65_536


@dataclass(frozen=True)
class StoreBounds:
    """What the store may hold in memory (docs/operations.md, Memory); 0 = ClickHouse's own.

    `memory` (everything the engine tracks: caches, queries, merges) and `caches`
    (each of its caches) are engine-wide: chDB runs one engine per process and
    takes them from the connection that starts it, ignoring them on the others,
    so every embedded connection passes the same ones, as is `merge_nice`, the
    Linux nice value of the engine's merge threads. `query_memory` and
    `threads` bound each query, in both modes.
    """

    memory: int = 0
    caches: int = 0
    query_memory: int = 0
    threads: int = 0
    merge_nice: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreBounds:
        """The bounds the `ACTIVITYLOG_CLICKHOUSE_*` memory, thread and nice variables set."""
        return cls(
            memory=settings.clickhouse_memory_bytes,
            caches=settings.clickhouse_cache_bytes,
            query_memory=settings.clickhouse_query_memory_bytes,
            threads=settings.clickhouse_max_threads,
            merge_nice=settings.clickhouse_merge_nice or 0,
        )

    def query_settings(self) -> dict[str, int]:
        """The per-query settings: a query that needs more memory first spills its sort or
        aggregation to disk (at half the bound), and fails only past the bound."""
        settings: dict[str, int] = {}
        if self.query_memory:
            settings["max_memory_usage"] = self.query_memory
            settings["max_bytes_before_external_sort"] = self.query_memory // 2
            settings["max_bytes_before_external_group_by"] = self.query_memory // 2
        if self.threads:
            settings["max_threads"] = self.threads
        if self.memory:
            # An INSERT ... SELECT (a backfill, a re-render) squashes its rows into blocks
            # of up to a million before the views and the MATERIALIZED texts run on them:
            # a block of wide rows that the engine's bound must hold several times over.
            settings["max_insert_block_size"] = INSERT_BLOCK_ROWS
            settings["min_insert_block_size_rows"] = INSERT_BLOCK_ROWS
            settings["min_insert_block_size_bytes"] = self.memory // 32
        return settings

    def engine_options(self) -> dict[str, int]:
        """chDB's start-up options: the engine-wide bounds, then the per-query ones."""
        options = dict.fromkeys(_ENGINE_CACHES, self.caches) if self.caches else {}
        if self.memory:
            options["max_server_memory_usage"] = self.memory
            # A merge starts only while merges hold less than half of it, so the
            # background work leaves the rest to the reads and the inserts.
            options["merges_mutations_memory_usage_soft_limit"] = self.memory // 2
        if self.merge_nice:
            # Merges run beside the reads on the same cores: a read that waits for a
            # core behind them is slower by as much, a merge that waits only ends later.
            options["os_threads_nice_value_merge_mutate"] = self.merge_nice
        return options | self.query_settings()


class Store:
    """A ClickHouse client guarded by a lock (a client handle is not thread-safe).

    Open one `Store` per concern (the worker's writer, the API's reader):
    chDB lets several clients of one process share the engine.
    """

    def __init__(
        self, client: Any, location: StoreLocation, bounds: StoreBounds | None = None
    ) -> None:
        self._client = client
        self.location = location
        self.bounds = bounds if bounds is not None else StoreBounds()
        self._lock = threading.Lock()
        # One insert context per (table, columns): it holds the columns' types, which a
        # new context would ask the store for (a DESCRIBE) on every insert.
        self._insert_contexts: dict[tuple[str, tuple[str, ...]], Any] = {}

    @classmethod
    def open(
        cls,
        url: str,
        *,
        cluster: str | None = None,
        verify: bool = True,
        ca_cert: Path | None = None,
        bounds: StoreBounds | None = None,
    ) -> Store:
        """Connect, creating the embedded directory. Migrations are `schemas.migrate`'s job.

        Without `bounds`, the defaults of docs/contracts.md apply.
        """
        location = parse_clickhouse_url(url)
        if cluster and location.mode == "embedded":
            raise ConfigError(
                "ACTIVITYLOG_CLICKHOUSE_CLUSTER", "needs a ClickHouse server URL, not chdb://"
            )
        bounds = bounds if bounds is not None else StoreBounds.from_settings(Settings())
        client = _connect(location, bounds, cluster=cluster, verify=verify, ca_cert=ca_cert)
        return cls(client, location, bounds)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """`open` with everything the settings say about the store."""
        return cls.open(
            settings.clickhouse_url,
            cluster=settings.clickhouse_cluster,
            verify=settings.clickhouse_verify,
            ca_cert=settings.clickhouse_ca_cert,
            bounds=StoreBounds.from_settings(settings),
        )

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock, _store_errors(self.location):
            return self._client.command(sql, parameters=parameters)

    def query_rows(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        with self._lock, _store_errors(self.location):
            return list(self._client.query(sql, parameters=parameters).result_rows)

    def query_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        with self._lock, _store_errors(self.location):
            result = self._client.query(sql, parameters=parameters)
            names = result.column_names
            return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def query_formatted(self, sql: str, parameters: dict[str, Any], fmt: str) -> bytes:
        """One query's result formatted by the store itself (`FORMAT fmt`), as bytes."""
        with self._lock, _store_errors(self.location):
            return bytes(self._client.raw_query(sql, parameters=parameters, fmt=fmt))

    def query_arrow(self, sql: str, parameters: dict[str, Any]) -> Any:
        """One query's result as a pyarrow Table."""
        with self._lock, _store_errors(self.location):
            return self._client.query_arrow(sql, parameters=parameters)

    def stream_formatted(self, sql: str, parameters: dict[str, Any], fmt: str) -> RecordChunks:
        """Stream one query's formatted output (`FORMAT fmt`) block by block; embedded only."""
        return self.stream_formatted_each([(sql, parameters)], fmt)

    def stream_formatted_each(
        self, queries: Iterable[tuple[str, dict[str, Any]]], fmt: str
    ) -> RecordChunks:
        """Stream the formatted output of each query in turn, block by block; embedded only.

        The queries run one after the other on a chDB connection of their
        own, outside this store's lock: a connection that streams can run
        nothing else, so the shared client would block every page request for
        the whole export (chDB allows any number of connections to the one
        engine of a process). `queries` is consumed lazily, one query as the
        one before it ends. Each block's bytes are yielded as chDB hands them
        over, with its row count: going through clickhouse-connect's file-like
        `raw_stream` instead copies every byte four more times in Python,
        which measured 15% of a 1M-row CSV export's time and left no core for
        hashing it. Parameters are bound as the client binds them,
        server-side. Closing the chunks early cancels the running query.
        """
        if self.location.mode != "embedded" or self.location.path is None:
            raise ValueError("stream_formatted needs an embedded (chdb://) store")
        return RecordChunks(_embedded_blocks(self.location, self.bounds, queries, fmt))

    def insert_columns(
        self, table: str, columns: Sequence[Sequence[Any]], column_names: Sequence[str]
    ) -> None:
        """One columnar insert; the batch is durable in the store when this returns."""
        key = (table, tuple(column_names))
        data = list(columns)
        with self._lock, _store_errors(self.location):
            try:
                context = self._insert_contexts.get(key)
                if context is None:
                    context = self._client.create_insert_context(
                        table, list(column_names), column_oriented=True
                    )
                    self._insert_contexts[key] = context
                self._client.insert(data=data, context=context)
            except BaseException:
                # A failed insert may leave the context mid-block, or its types out of date.
                self._insert_contexts.pop(key, None)
                raise
            finally:
                # The context keeps the last list of columns it was given, and refers to
                # itself (a bound method it holds), so a context that is dropped lives
                # until a full cycle collection, the batch with it: emptied here, the
                # batch's values are freed as soon as the caller lets go of them.
                data.clear()

    def ping(self) -> bool:
        try:
            return bool(self.command("SELECT 1") == 1)
        except StoreUnavailable:
            return False

    def close(self) -> None:
        with self._lock:
            try:
                self._client.close()
            except Exception:  # closing must never mask the real outcome
                log.debug("closing the ClickHouse client failed", exc_info=True)


class RecordChunks:
    """A streamed result's chunks, each ending a record, with how many records it holds.

    Counting a CSV's records means finding every newline outside quotes,
    which measured a quarter of a 1M-row export's time; the engine already
    knows how many rows each block holds. `records` is the count of the
    chunk last returned.
    """

    def __init__(self, pairs: Iterator[tuple[bytes, int]]) -> None:
        self._pairs = pairs
        self.records = 0

    def __iter__(self) -> RecordChunks:
        return self

    def __next__(self) -> bytes:
        chunk, self.records = next(self._pairs)
        return chunk

    def close(self) -> None:
        """Stop the query behind the chunks (a generator's close)."""
        close = getattr(self._pairs, "close", None)
        if close is not None:
            close()


def _embedded_blocks(
    location: StoreLocation,
    bounds: StoreBounds,
    queries: Iterable[tuple[str, dict[str, Any]]],
    fmt: str,
) -> Iterator[tuple[bytes, int]]:
    """(bytes, rows) of each non-empty block of each query, on a chDB connection of their own."""
    import chdb
    from clickhouse_connect.driver.binding import bind_query

    assert location.path is not None  # checked by Store.stream_formatted_each
    try:
        # The engine path must be spelled as the store's client spelled it (realpath).
        conn = chdb.connect(_chdb_target(location.path, bounds))  # type: ignore[no-untyped-call]
        try:
            conn.query(f"USE {EMBEDDED_DATABASE}")
            for sql, parameters in queries:
                query, bound = bind_query(sql, parameters)
                values = {name.removeprefix("param_"): value for name, value in bound.items()}
                stream = conn.send_query(query, fmt, params=values)
                try:
                    for block in stream:
                        if data := block.bytes():
                            yield data, block.rows_read()
                finally:
                    stream.close()
        finally:
            conn.close()
    except (chdb.ChdbError, RuntimeError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StoreUnavailable(f"{location.describe()}: {first[:300]}") from exc


def _chdb_target(path: Path, bounds: StoreBounds) -> str:
    """chDB's connection string: the resolved path, then the bounds as start-up options."""
    options = bounds.engine_options()
    resolved = os.path.realpath(path)
    return f"{resolved}?{urlencode(options)}" if options else resolved


def _connect(
    location: StoreLocation,
    bounds: StoreBounds,
    *,
    cluster: str | None = None,
    verify: bool = True,
    ca_cert: Path | None = None,
) -> Any:
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        if location.mode == "embedded":
            assert location.path is not None
            location.path.mkdir(parents=True, exist_ok=True)
            path = str(location.path.resolve())
            # Every connection carries the bounds: the first one starts the engine with them.
            options = bounds.engine_options()
            boot = clickhouse_connect.get_client(interface="chdb", path=path, chdb_options=options)
            boot.command(f"CREATE DATABASE IF NOT EXISTS {EMBEDDED_DATABASE}")
            boot.close()
            return clickhouse_connect.get_client(
                interface="chdb", path=path, database=EMBEDDED_DATABASE, chdb_options=options
            )
        tls: dict[str, Any] = {}
        if location.secure:
            tls["verify"] = verify
            if ca_cert is not None:
                tls["ca_cert"] = str(ca_cert)
        # On a cluster an insert into the Distributed table returns only once the
        # shards have the rows, so offsets are never committed ahead of them.
        settings: dict[str, int] = bounds.query_settings()
        if cluster:
            settings["insert_distributed_sync"] = 1
        return clickhouse_connect.get_client(
            interface="https" if location.secure else "http",
            host=location.host,
            port=location.port,
            username=location.username,
            password=location.password,
            database=location.database,
            connect_timeout=5,
            send_receive_timeout=120,
            settings=settings,
            **tls,
        )
    except (ClickHouseError, OSError) as exc:
        message = _short_reason(exc)
        if location.mode == "embedded" and "EmbeddedServer" in message:
            message = (
                f"{location.path} is already open in another process "
                "(is `activitylog serve` running? chDB allows one process per data directory)"
            )
        raise StoreUnavailable(f"cannot open {location.describe()}: {message}") from exc


_CH_CODE = re.compile(r"Code: (\d+)\.")
_CH_NAME = re.compile(r"\(([A-Z_]+)\)")


@contextmanager
def _store_errors(location: StoreLocation) -> Iterator[None]:
    """Turn client errors into StoreUnavailable, keeping ClickHouse's code and name."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        yield
    except (ClickHouseError, OSError) as exc:
        text = str(exc)
        code = _CH_CODE.search(text)
        name = _CH_NAME.search(text)
        raise StoreUnavailable(
            f"{location.describe()}: {_short_reason(exc)}",
            ch_code=int(code.group(1)) if code else None,
            ch_name=name.group(1) if name else None,
        ) from exc


_NETWORK_REASONS = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "unknown host"),
    ("timed out", "timed out"),
    ("CERTIFICATE_VERIFY_FAILED", "TLS certificate verification failed"),
    ("Authentication failed", "authentication failed (check the user and password)"),
)


def _short_reason(exc: BaseException) -> str:
    """One readable line: the network cause when there is one, else the first line."""
    text = str(exc).strip()
    for needle, reason in _NETWORK_REASONS:
        if needle in text:
            return reason
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:500]
