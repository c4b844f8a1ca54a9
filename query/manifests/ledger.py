"""The export ledger: seals manifests into the store, one chain per partner (docs/contracts.md).

Every export, a direct download or a job, ends here: `seal` when its last
byte was written (the manifest is built, chained to the partner's previous
one, signed when a key is set, stored, and the observer told), `fail` when
it broke off (no manifest; the observer is told why). Sealing runs under a
lock shared by every ledger of this process on the same store, so one
partner's chain never forks between two exports finishing at once.

Why in the store: the server restarts, the CLI and the server take turns
on an embedded store, and the chain must continue across all of them.
Limit: two API processes sealing for one partner at the same instant
(server mode) could both name the same `previous`; `verify --chain` then
reports the fork.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from prometheus_client import Counter

from common.errors import ActivityLogError
from common.settings import Settings
from common.store import RecordChunks, Store
from common.timefmt import iso_utc
from query.manifests.facts import ExportTap
from query.manifests.model import (
    ExportFacts,
    ExportObserver,
    ExportRequestInfo,
    build_manifest,
    canonical_bytes,
)
from query.reads.scope import key_within_partner
from schemas.tables import MANIFESTS_TABLE

log = logging.getLogger(__name__)

MANIFEST_COLUMNS: Final = ("export_id", "partner_id", "seq", "created_at", "digest", "manifest")

EXPORTS = Counter(
    "activitylog_exports_total",
    "Exports that ended, by format and outcome (sealed, failed, cancelled)",
    ["format", "outcome"],
)

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _chain_lock(store: Store) -> threading.Lock:
    """The lock of this process's chains on `store` (shared by every ledger on it)."""
    key = store.location.describe()
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


class ExportLedger:
    """Seals manifests into the store; one per process (or more, sharing the chain lock)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        observer: ExportObserver | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.observer = observer
        self._now = now
        key = settings.export_signing_key
        self._signing_key = key.encode("utf-8") if key else None
        self._key_id = settings.export_signing_key_id
        self._lock = _chain_lock(store)

    def seal(self, export_id: str, info: ExportRequestInfo, facts: ExportFacts) -> dict[str, Any]:
        """Build, chain, sign and store the manifest of a finished export; returns it."""
        with self._lock:
            seq, previous = self._head(info.partner_id)
            manifest = build_manifest(
                export_id,
                info,
                facts,
                created_at=iso_utc(self._now()),
                previous=previous,
                signing_key=self._signing_key,
                key_id=self._key_id,
            )
            data = canonical_bytes(manifest)
            created = datetime.fromisoformat(manifest["created_at"].replace("Z", "+00:00"))
            self.store.insert_columns(
                MANIFESTS_TABLE,
                [
                    [export_id],
                    [info.partner_id],
                    [seq + 1],
                    [created],
                    [hashlib.sha256(data).hexdigest()],
                    [data.decode("utf-8")],
                ],
                MANIFEST_COLUMNS,
            )
        EXPORTS.labels(info.format, "sealed").inc()
        log.info(
            "export %s sealed: partner %s, %s rows, %s",
            export_id,
            info.partner_id,
            facts.rows,
            info.format,
        )
        if self.observer is not None:
            try:
                self.observer.export_finished(manifest)
            except Exception:  # the manifest stands; the observer's failure is logged
                log.exception("export observer failed on the end of export %s", export_id)
        return manifest

    def fail(
        self,
        export_id: str,
        info: ExportRequestInfo,
        rows_written: int,
        reason: str,
        *,
        cancelled: bool = False,
    ) -> None:
        """Record an export that broke off (no manifest): a metric, a log line, the observer."""
        outcome = "cancelled" if cancelled else "failed"
        EXPORTS.labels(info.format, outcome).inc()
        log.warning(
            "export %s %s after %s rows (partner %s): %s",
            export_id,
            outcome,
            rows_written,
            info.partner_id,
            reason,
        )
        if self.observer is not None:
            try:
                self.observer.export_failed(
                    export_id, info, rows_written, reason, cancelled=cancelled
                )
            except Exception:
                log.exception("export observer failed on the failure of export %s", export_id)

    def start(self, export_id: str, info: ExportRequestInfo) -> ExportRun:
        """An export under way: feed it the bytes, then it seals (or records the failure)."""
        return ExportRun(self, export_id, info)

    def manifest(self, export_id: str, partner_id: str | None) -> dict[str, Any] | None:
        """The sealed manifest of `export_id`, within `partner_id`'s scope (None = all)."""
        where, params = key_within_partner("export_id", export_id, partner_id)
        sql = f"SELECT manifest FROM {MANIFESTS_TABLE} FINAL WHERE {where} LIMIT 1"  # noqa: S608
        rows = self.store.query_rows(sql, params)
        if not rows:
            return None
        found: dict[str, Any] = orjson.loads(rows[0][0])
        return found

    def _head(self, partner_id: str) -> tuple[int, str | None]:
        """The partner's chain head: (its seq, its digest), or (0, None) for a first export."""
        rows = self.store.query_rows(
            f"SELECT seq, digest FROM {MANIFESTS_TABLE} FINAL "  # noqa: S608
            "WHERE partner_id = {p:String} ORDER BY seq DESC LIMIT 1",
            {"p": partner_id},
        )
        if not rows:
            return 0, None
        return int(rows[0][0]), str(rows[0][1])


class ExportRun:
    """One export from its first byte to its seal or its failure, whichever comes first.

    `stream` passes the bytes through an `ExportTap` and seals when they run
    out; an error in the stream, or the stream closed early, records a
    failure. `abort` is for what the stream cannot see (the HTTP client gone
    while the response was suspended between chunks). Exactly one of seal or
    fail happens, however the two race.
    """

    def __init__(self, ledger: ExportLedger, export_id: str, info: ExportRequestInfo) -> None:
        self.ledger = ledger
        self.export_id = export_id
        self.info = info
        self.tap = ExportTap(info.format)
        self.manifest: dict[str, Any] | None = None
        self.outcome: str | None = None  # sealed | failed | cancelled
        self._lock = threading.Lock()
        self._source: Iterator[bytes] | None = None

    def update(self, chunk: bytes) -> None:
        """Account for the next chunk written."""
        self.tap.update(chunk)

    def stream(self, chunks: Iterable[bytes]) -> Generator[bytes, None, None]:
        """`chunks` unchanged; sealed after the last one, failed if they break off."""
        source = iter(chunks)
        self._source = source
        counted = source if isinstance(source, RecordChunks) else None
        try:
            for chunk in source:
                self.tap.update(chunk, counted.records if counted is not None else None)
                yield chunk
        except GeneratorExit:
            self.abort("the download stopped before its end (client disconnected)")
            raise
        except ActivityLogError as exc:
            self.abort(exc.message)
            raise
        except Exception as exc:
            self.abort(f"{type(exc).__name__}: {exc}")
            raise
        self.finish()

    def finish(self) -> dict[str, Any] | None:
        """Seal the manifest (once); None when the run had already failed."""
        with self._lock:
            if self.outcome is not None:
                return self.manifest
            try:
                self.manifest = self.ledger.seal(self.export_id, self.info, self.tap.facts())
            except Exception as exc:  # no manifest: the export counts as failed, and says why
                self.outcome = "failed"
                failure = exc
            else:
                self.outcome = "sealed"
                return self.manifest
        reason = failure.message if isinstance(failure, ActivityLogError) else repr(failure)
        self.ledger.fail(
            self.export_id,
            self.info,
            self.tap.rows_so_far,
            f"sealing failed: {reason}",
            cancelled=False,
        )
        raise failure

    def abort(self, reason: str, *, cancelled: bool = False) -> bool:
        """Record the failure (once, and only if not sealed); True when this call recorded it."""
        with self._lock:
            if self.outcome is not None:
                return False
            self.outcome = "cancelled" if cancelled else "failed"
        self.ledger.fail(
            self.export_id, self.info, self.tap.rows_so_far, reason, cancelled=cancelled
        )
        source, self._source = self._source, None
        close = getattr(source, "close", None)
        if close is not None:
            try:  # release the store's streaming client now rather than at garbage collection
                close()
            except (ValueError, RuntimeError):  # still running in another thread: GC closes it
                log.debug("export %s source not closed now", self.export_id)
        return True
