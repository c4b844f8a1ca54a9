"""`ActivityPublisher`: the library upstream Python systems use to publish events.

Validates each event against the v1 contract before it touches the wire,
fills `event_id` and `occurred_at` when left out, keys by `customer_id`,
and counts every record's outcome itself: kafka-python's `flush()` returns
normally even when records failed (design §8), so a publisher that loses
nothing must track each delivery.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import orjson

from activitylog.errors import BrokerUnavailable, DeliveryFailed
from schemas.events import validate_event

MAX_ERRORS_KEPT = 20


@dataclass
class DeliveryReport:
    """Outcome of everything published so far."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return self.sent - self.delivered - self.failed


def complete_event(event: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A copy with `event_id` (UUID4) and `occurred_at` (now, UTC) filled when missing."""
    out = dict(event)
    if not out.get("event_id"):
        out["event_id"] = str(uuid.uuid4())
    if not out.get("occurred_at"):
        stamp = (now or datetime.now(UTC)).astimezone(UTC)
        out["occurred_at"] = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return out


class ActivityPublisher:
    """Publish v1 events to Kafka with per-record outcome tracking.

    Use as a context manager; leaving the block flushes and raises
    `DeliveryFailed` if any record was not acknowledged.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        linger_ms: int = 20,
        batch_size: int = 256 * 1024,
        max_pending: int = 50_000,
        delivery_timeout_ms: int = 120_000,
        client_id: str = "activitylog-publisher",
    ) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self._max_pending = max_pending
        self._lock = threading.Lock()
        self.report = DeliveryReport()
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap.split(","),
                client_id=client_id,
                acks="all",
                linger_ms=linger_ms,
                batch_size=batch_size,
                retries=2**31 - 1,
                delivery_timeout_ms=delivery_timeout_ms,
                request_timeout_ms=min(30_000, delivery_timeout_ms),
            )
        except (KafkaError, OSError) as exc:
            raise BrokerUnavailable(
                f"cannot reach Kafka at {bootstrap} ({type(exc).__name__}); "
                "is the broker running (`activitylog stack up`)?"
            ) from exc

    def publish(self, topic: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and send one event; returns the event as sent (ids filled in).

        Raises `InvalidEvent` (field and rule) before anything is sent.
        """
        complete = complete_event(event)
        validated = validate_event(topic, complete)
        value = orjson.dumps(complete)
        self.send_raw(topic, validated.customer_id.encode(), value)
        return complete

    def send_raw(self, topic: str, key: bytes, value: bytes) -> None:
        """Send bytes already validated; counts the outcome when the broker answers."""
        if self.report.pending >= self._max_pending:
            # kafka-python no longer bounds its buffer: we do, so memory stays flat.
            self._producer.flush()
        future = self._producer.send(topic, key=key, value=value)
        with self._lock:
            self.report.sent += 1
        future.add_callback(self._on_success)
        future.add_errback(self._on_error)

    def _on_success(self, _metadata: Any) -> None:
        with self._lock:
            self.report.delivered += 1

    def _on_error(self, exc: BaseException) -> None:
        with self._lock:
            self.report.failed += 1
            if len(self.report.errors) < MAX_ERRORS_KEPT:
                self.report.errors.append(f"{type(exc).__name__}: {exc}")

    def flush(self, timeout: float = 60.0) -> DeliveryReport:
        """Wait for every record's outcome (or `timeout`); returns the report."""
        from kafka.errors import KafkaTimeoutError

        # On a timeout the report's `pending` says how many are still unanswered.
        with contextlib.suppress(KafkaTimeoutError):
            self._producer.flush(timeout=timeout)
        return self.report

    def close(self, timeout: float = 60.0) -> DeliveryReport:
        """Flush, then close; never drops buffered events silently."""
        report = self.flush(timeout)
        self._producer.close(timeout=5)
        return report

    def __enter__(self) -> ActivityPublisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        report = self.close()
        if exc_type is None and (report.failed or report.pending):
            raise DeliveryFailed(
                f"{report.failed} events failed and {report.pending} are unconfirmed "
                f"of {report.sent} sent; first error: {(report.errors or ['timeout'])[0]}"
            )
