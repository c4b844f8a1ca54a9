"""Exports are audited: every export, finished or failed, becomes an `export.create` activity.

`ExportAudit` is the `ExportObserver` the export ledger calls when an export
ends. It publishes one partner-level action (`"scope": "partner"`, no
customer, Kafka key = partner id) to `activity.partner-actions.v1` through the
project's own `ActivityPublisher`, so the record travels the same pipeline as
every other activity and shows in the log and in later exports.

Publishing never blocks or breaks the export: the ledger's call only puts the
event on a bounded queue; one background thread publishes it, retrying with
backoff for at most `retry_seconds`. What happens when Kafka is down: the
event is retried until that window (or `close()`'s deadline) passes, then
logged at ERROR as lost, with its export id and the complete event as JSON,
and counted in `activitylog_export_audit_events_total{result="lost"}`. The
event id is derived from the export id (UUID v5), so publishing that logged
JSON again (`activitylog produce`) gives the same single activity, never two.

Whose log: the manifest's partner. An export made with an all-partners key
(`*`) is recorded under partner id `*`: an operator's log that only
all-partners keys can read, as no partner key is ever scoped to `*`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import orjson
from prometheus_client import Counter

from common.errors import InvalidEvent
from common.retry import Backoff
from common.settings import ALL_PARTNERS
from common.timefmt import iso_utc
from query.manifests.model import ExportRequestInfo, schedule_of
from schemas.events import Scope
from schemas.topics import PARTNER_ACTIONS_TOPIC

log = logging.getLogger(__name__)

EXPORT_ACTION: Final = "export.create"
RESOURCE_TYPE: Final = "export"
# Fixed namespace of the audit events' ids: uuid5(namespace, "export.create:<export id>").
EVENT_ID_NAMESPACE: Final = uuid.UUID("6f1d2c8e-4b7a-5e3f-9a10-2c4d6e8f0a1b")
UNKNOWN_USER: Final = "unknown"
# After close()'s deadline, how long a Kafka call still in progress is waited for.
ABANDON_GRACE_SECONDS: Final = 2.0

AUDIT_EVENTS = Counter(
    "activitylog_export_audit_events",
    "export.create activities by result: published (acknowledged by Kafka), lost (logged)",
    ["result"],
)


def audit_event_id(export_id: str) -> str:
    """The event id of an export's audit record: the same export, the same activity."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{EXPORT_ACTION}:{export_id}"))


def finished_event(manifest: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """The `export.create` event of a sealed manifest (outcome succeeded)."""
    export_id = str(manifest["export_id"])
    details: dict[str, Any] = {
        "export_id": export_id,
        "from": manifest.get("from"),
        "to": manifest.get("to"),
        "tz": manifest.get("tz"),
        "filters": dict(manifest.get("filters") or {}),
        "format": manifest.get("format"),
        "lang": manifest.get("lang"),
        "rows": manifest.get("rows"),
        "first_event_at": manifest.get("first_event_at"),
        "last_event_at": manifest.get("last_event_at"),
        "sha256": manifest.get("sha256"),
    }
    return _event(
        export_id,
        partner_id=str(manifest.get("partner_id") or ALL_PARTNERS),
        created_by=str(manifest.get("created_by") or ""),
        occurred_at=str(manifest.get("created_at") or _now()),
        fmt=str(manifest.get("format") or ""),
        outcome="succeeded",
        details=details,
        source=source,
    )


def failed_event(
    export_id: str,
    info: ExportRequestInfo,
    rows_written: int,
    reason: str,
    *,
    cancelled: bool,
    source: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The `export.create` event of an export that failed or was cancelled (outcome failed)."""
    details: dict[str, Any] = {
        "export_id": export_id,
        "from": info.from_,
        "to": info.to,
        "tz": info.tz,
        "filters": dict(info.filters),
        "format": info.format,
        "lang": info.lang,
        "rows_written": rows_written,
        "reason": reason,
        "cancelled": cancelled,
    }
    return _event(
        export_id,
        partner_id=info.partner_id or ALL_PARTNERS,
        created_by=info.created_by,
        occurred_at=_now(now),
        fmt=info.format,
        outcome="failed",
        details=details,
        source=source,
    )


def _event(
    export_id: str,
    *,
    partner_id: str,
    created_by: str,
    occurred_at: str,
    fmt: str,
    outcome: str,
    details: dict[str, Any],
    source: str,
) -> dict[str, Any]:
    schedule_id = schedule_of(created_by)
    if schedule_id is not None:  # a schedule's run: marked so, naming the schedule
        details = details | {"scheduled": True, "schedule_id": schedule_id}
    event: dict[str, Any] = {
        "event_id": audit_event_id(export_id),
        "occurred_at": occurred_at,
        "partner_id": partner_id,
        "partner_user": created_by or UNKNOWN_USER,
        "scope": Scope.PARTNER.value,
        "action": EXPORT_ACTION,
        "resource_type": RESOURCE_TYPE,
        "resource_id": export_id,
        "outcome": outcome,
        "details": details,
        # The export id ties the activity to its manifest and to a job's own records.
        "correlation_id": export_id,
        "source": source,
    }
    if fmt:
        event["resource_name"] = fmt.upper()
    return event


def _now(now: datetime | None = None) -> str:
    return iso_utc(now or datetime.now(UTC))


class Publisher(Protocol):
    """What the audit needs of `producers.ActivityPublisher`."""

    def publish(self, topic: str, event: Mapping[str, Any]) -> Any: ...
    def close(self, timeout: float | None = None) -> Any: ...


@dataclass(frozen=True, eq=False)
class _Pending:
    """A queued audit event and the moment its retries end (compared by identity)."""

    deadline: float
    event: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.event.get("event_id"))


class ExportAudit:
    """An `ExportObserver` publishing `export.create` activities to Kafka, off the caller's path.

    `export_finished` / `export_failed` return at once (a queue put). One
    daemon thread publishes: a record is counted `published` only once Kafka
    acknowledged it (`acks=all`); after `retry_seconds` of failures, or when
    `close()`'s deadline passes first, it is logged as lost (see the module
    docstring). Close it when the process stops.
    """

    def __init__(
        self,
        publisher_factory: Callable[[], Publisher],
        *,
        source: str,
        retry_seconds: float = 60.0,
        queue_size: int = 10_000,
    ) -> None:
        self.source = source
        self.retry_seconds = retry_seconds
        # Called again after each failure: the process that composes the app decides
        # how to reach Kafka (`activitylog.runtime.export_audit`).
        self._factory = publisher_factory
        # None is the stop mark `close()` queues behind the last event.
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=queue_size)
        self._abandon = threading.Event()
        self._lock = threading.Lock()
        self.published = 0
        self.lost = 0
        self._closed = False
        self._publisher: Publisher | None = None
        self._in_hand: _Pending | None = None
        self._given_up: set[_Pending] = set()
        self._thread = threading.Thread(target=self._run, name="export-audit", daemon=True)
        self._thread.start()

    # -- the ExportObserver protocol (called by the ledger; must never raise) -------------------

    def export_finished(self, manifest: Mapping[str, Any]) -> None:
        """Record a finished export (its sealed manifest)."""
        try:
            self._submit(finished_event(manifest, source=self.source))
        except Exception:  # an audit problem must never reach the downloader
            log.exception("export audit: cannot record export %s", manifest.get("export_id"))

    def export_failed(
        self,
        export_id: str,
        info: ExportRequestInfo,
        rows_written: int,
        reason: str,
        *,
        cancelled: bool,
    ) -> None:
        """Record a failed or cancelled export, with its reason."""
        try:
            event = failed_event(
                export_id, info, rows_written, reason, cancelled=cancelled, source=self.source
            )
            self._submit(event)
        except Exception:
            log.exception("export audit: cannot record failed export %s", export_id)

    def record_action(self, event: dict[str, Any]) -> None:
        """Record another partner-level audit activity (a destination added or removed)."""
        try:
            self._submit({"source": self.source} | event)
        except Exception:  # an audit problem must never reach the caller
            log.exception("audit: cannot record %s", event.get("event_id"))

    # -- queue and publishing thread -------------------------------------------------------------

    def _submit(self, event: dict[str, Any]) -> None:
        if self._closed:
            self._lose(event, "the export audit is closed")
            return
        try:
            self._queue.put_nowait(_Pending(time.monotonic() + self.retry_seconds, event))
        except queue.Full:
            self._lose(event, f"more than {self._queue.maxsize} audit events waiting for Kafka")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._in_hand = item
            self._deliver(item)
            self._in_hand = None

    def _deliver(self, item: _Pending) -> None:
        """Publish one event, retrying with backoff until its deadline; else log it as lost."""
        event, deadline = item.event, item.deadline
        backoff = Backoff(0.5, cap=5.0)
        reason = "not attempted"
        while not self._abandon.is_set():
            try:
                publisher = self._publisher or self._open()
                receipt = publisher.publish(PARTNER_ACTIONS_TOPIC, event)
                receipt.wait(max(1.0, min(10.0, deadline - time.monotonic())))
            except InvalidEvent as exc:
                reason = f"invalid event: {exc}"
                break  # a contract error does not heal by retrying
            except Exception as exc:  # broker down, refused, timed out: retry, then log
                reason = str(exc) or type(exc).__name__
                self._drop_publisher()
            else:
                with self._lock:
                    if item in self._given_up:  # close() already logged it: say it arrived
                        log.warning("export audit event %s published after all", item.event_id)
                        return
                    self.published += 1
                AUDIT_EVENTS.labels("published").inc()
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._abandon.wait(min(backoff.next(), remaining))
        with self._lock:
            if item in self._given_up:
                return  # close() logged it already
        self._lose(event, reason)

    def _open(self) -> Publisher:
        self._publisher = self._factory()
        return self._publisher

    def _drop_publisher(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with contextlib.suppress(Exception):
                publisher.close(timeout=0)

    def _lose(self, event: Mapping[str, Any], reason: str) -> None:
        with self._lock:
            self.lost += 1
        AUDIT_EVENTS.labels("lost").inc()
        # The whole event, so an operator can publish it again (`activitylog produce`):
        # its id is derived from the export id, so it will still be one activity.
        log.error(
            "export audit event lost: export_id=%s partner=%s reason=%s event=%s",
            event.get("resource_id"),
            event.get("partner_id"),
            reason,
            orjson.dumps(event).decode(),
        )

    def close(self, timeout: float = 10.0) -> None:
        """Publish what is queued within `timeout` seconds, log the rest as lost, stop."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=max(0.01, deadline - time.monotonic()))
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._abandon.set()  # the thread stops retrying at its next check
            self._thread.join(ABANDON_GRACE_SECONDS)
        in_hand = self._in_hand
        if self._thread.is_alive() and in_hand is not None:
            # An attempt is still blocked inside the Kafka client: log the event now
            # rather than wait; should it still get through, a warning says so.
            with self._lock:
                self._given_up.add(in_hand)
            self._lose(in_hand.event, f"unconfirmed when the process stopped ({timeout:g}s)")
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._lose(item.event, f"not published within {timeout:g}s of shutdown")
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)  # in case the stop mark found the queue full
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                self._publisher.close(timeout=max(0.0, deadline - time.monotonic()))
            self._publisher = None
