"""`ActivityPublisher`: the library upstream Python systems use to publish events.

Validates each event against the v1 contract before it touches the wire,
fills `event_id` and `occurred_at` when left out, keys by `customer_id` (by
`partner_id` for a partner-level action, which has no customer), and
counts every record's outcome itself: kafka-python's `flush()` returns
normally even when records failed, and waits per batch rather than overall
(docs/components.md, kafka-python), so a publisher that loses nothing must track each delivery and
bound its own waits.


    with ActivityPublisher("127.0.0.1:9092") as publisher:
        receipt = publisher.publish("activity.partner-actions.v1", {
            "partner_id": "ptn-1", "partner_user": "ana@partner.example",
            "customer_id": "cust-42", "customer_name": "Contoso",
            "action": "user.password_reset",
        })
    print(receipt.delivery)     # Delivery(topic=..., partition=1, offset=1234)
    # Leaving the block flushes; DeliveryFailed if anything was not acknowledged,
    # with every failed or unconfirmed record (its bytes) in publisher.report.

Guarantees: a record is counted `delivered` only once Kafka acknowledged it
with `acks=all`; every other record ends in `report.failed_records` with its
topic, key, value and reason (delivery timeout, broker refusal, or still
unacknowledged when `close()`'s deadline passed). Nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import kafka.errors as _kafka_errors
import orjson

from common.errors import BrokerUnavailable, ConfigError, DeliveryFailed, InvalidEvent
from common.kafka import kafka_reason
from common.timefmt import iso_utc
from producers.partitioner import KeyCachingPartitioner
from schemas.events import validate_event

MAX_ERRORS_KEPT = 20
MAX_FAILED_RECORDS_KEPT = 100_000
# Seconds `close()` and `__exit__` wait for outstanding records by default.
DEFAULT_CLOSE_TIMEOUT = 60.0
_POLL_SECONDS = 0.1
# What `KafkaProducer.send` raises for one record, before it is queued (see `_refused`).
_REFUSED_SENDS = (_kafka_errors.MessageSizeTooLargeError, _kafka_errors.KafkaTimeoutError)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where Kafka stored one record."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class FailedRecord:
    """A record Kafka did not acknowledge: its bytes, so the caller can retry it."""

    topic: str
    key: bytes | None
    value: bytes
    reason: str


@dataclass(frozen=True)
class DeliveryReport:
    """Outcome of everything published so far (a snapshot).

    `sent = delivered + failed + pending`. `failed_records` holds the first
    `MAX_FAILED_RECORDS_KEPT` failures (the count `failed` is always exact);
    `errors` the first distinct reasons, for a one-line summary.
    """

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    errors: tuple[str, ...] = ()
    failed_records: tuple[FailedRecord, ...] = ()

    @property
    def ok(self) -> bool:
        """Every record sent so far is acknowledged."""
        return self.failed == 0 and self.pending == 0

    def summary(self) -> str:
        """One line: how many were delivered, failed, unconfirmed, and the first reason."""
        text = f"{self.delivered} delivered of {self.sent}"
        if self.failed:
            text += f", {self.failed} failed"
        if self.pending:
            text += f", {self.pending} unconfirmed"
        if self.errors:
            text += f"; first error: {self.errors[0]}"
        return text


def complete_event(event: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A copy with `event_id` (UUID4) and `occurred_at` (now, UTC) filled when missing."""
    out = dict(event)
    if not out.get("event_id"):
        out["event_id"] = str(uuid.uuid4())
    if not out.get("occurred_at"):
        # astimezone first: a naive `now` is the caller's local time here.
        out["occurred_at"] = iso_utc((now or datetime.now(UTC)).astimezone(UTC))
    return out


def encode_event(topic: str, event: Mapping[str, Any]) -> tuple[bytes, bytes, dict[str, Any]]:
    """Complete, validate and serialize one event: (key, value, completed event).

    Raises `InvalidEvent` naming the field and the rule; pure, so every rule
    can be checked without a broker.
    """
    if not isinstance(event, Mapping):
        raise InvalidEvent("", "must be a JSON object")
    complete = complete_event(event)
    validated = validate_event(topic, complete)
    # The customer, or the partner for a partner-level action (scope partner).
    return validated.kafka_key.encode(), orjson.dumps(complete), complete


class Receipt:
    """Handle on one published record: where Kafka stored it, or why it did not.

    One per record: its two callbacks count the outcome for the publisher.
    """

    __slots__ = ("_error", "_future", "_metadata", "_owner", "event_id", "key", "topic", "value")

    def __init__(
        self, owner: ActivityPublisher, topic: str, key: bytes | None, value: bytes
    ) -> None:
        self._owner = owner
        self.topic = topic
        self.key = key
        self.value = value
        self.event_id: str | None = None
        self._future: Any = None
        self._metadata: Any = None
        self._error: BaseException | None = None

    def _ok(self, metadata: Any) -> None:
        # Runs on kafka-python's I/O thread: a dict pop is atomic under the GIL.
        self._metadata = metadata
        owner = self._owner
        if owner._outstanding.pop(self, False):
            owner._on_ack(metadata)

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self._owner._record_failure(self, exc)

    @property
    def done(self) -> bool:
        """Kafka answered (acknowledged or failed)."""
        return self._metadata is not None or self._error is not None

    @property
    def delivery(self) -> Delivery | None:
        """Topic, partition and offset once acknowledged; None before or on failure."""
        md = self._metadata
        return None if md is None else Delivery(md.topic, md.partition, md.offset)

    @property
    def error(self) -> str | None:
        """Why the record failed, or None."""
        return None if self._error is None else kafka_reason(self._error)

    def wait(self, timeout: float = 30.0) -> Delivery:
        """Block until Kafka answers for this record; its delivery, or `DeliveryFailed`."""
        deadline = time.monotonic() + timeout
        while not self.done and time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                self._future.get(timeout=min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        delivery = self.delivery
        if delivery is not None:
            return delivery
        if self._error is not None:
            raise DeliveryFailed(f"event not delivered to {self.topic}: {self.error}")
        raise DeliveryFailed(f"event to {self.topic} still unacknowledged after {timeout:g}s")


class ActivityPublisher:
    """Publish v1 events to Kafka with per-record outcome tracking.

    Use as a context manager; leaving the block flushes (bounded by
    `close_timeout`) and raises `DeliveryFailed` if any record was not
    acknowledged. Tuned for throughput with supported kafka-python options
    (docs/components.md, kafka-python): 20 ms linger, 256 KiB batches, lz4, orjson values, a
    partitioner that caches each key's partition, `acks=all` with the
    idempotent producer and unbounded retries inside `delivery_timeout_ms`.

    `max_pending` bounds the records waiting for an answer: kafka-python no
    longer bounds its own buffer, so a publisher outrunning the broker would
    grow without limit. When full, `publish` waits for room; if Kafka
    acknowledges nothing for `stall_timeout` seconds it raises
    `BrokerUnavailable` rather than block for ever.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        linger_ms: int = 20,
        batch_size: int = 256 * 1024,
        compression: str | None = "lz4",
        max_pending: int = 50_000,
        delivery_timeout_ms: int = 120_000,
        request_timeout_ms: int = 30_000,
        idempotent: bool = True,
        stall_timeout: float | None = None,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        client_id: str = "activitylog-publisher",
        keep_receipts: bool = False,
    ) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaConfigurationError, KafkaError

        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._max_pending = max_pending
        self._stall_timeout = (
            stall_timeout if stall_timeout is not None else delivery_timeout_ms / 1000 + 30
        )
        self._close_timeout = close_timeout
        self._keep_receipts = keep_receipts
        self._lock = threading.Lock()
        # Receipts sent and not yet answered, in send order (dicts keep insertion order).
        self._outstanding: dict[Receipt, bool] = {}
        # Every record, receipt or bulk: pending = sent - acked - failed. `_sent`
        # is written by the publishing thread only, `_acked` and `_failed`
        # under the lock (callbacks run on kafka-python's I/O thread, or on the
        # caller's when a future is already resolved as it gets its callback).
        self._sent = 0
        self._acked = 0
        self._failed = 0
        # Bound once: a bound method made per record is measurable at 30k/s.
        self._ack_callback = self._on_ack
        self._fail_callback = self._on_bulk_failure
        self._errors: list[str] = []
        self._failed_records: list[FailedRecord] = []
        self._closing_reason: str | None = None
        self._closed = False
        self.bootstrap = bootstrap
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap.split(","),
                client_id=client_id,
                acks="all",
                enable_idempotence=idempotent,
                compression_type=compression,
                linger_ms=linger_ms,
                batch_size=batch_size,
                retries=2**31 - 1,
                delivery_timeout_ms=delivery_timeout_ms,
                request_timeout_ms=min(request_timeout_ms, delivery_timeout_ms),
                partitioner=KeyCachingPartitioner(),
            )
        except KafkaConfigurationError as exc:
            raise ConfigError("ActivityPublisher", kafka_reason(exc)) from exc
        except (KafkaError, OSError) as exc:
            raise BrokerUnavailable(
                f"cannot reach Kafka at {bootstrap} ({type(exc).__name__}); "
                "is the broker running (`activitylog stack up`)?"
            ) from exc

    # ------------------------------------------------------------------ publishing

    def publish(self, topic: str, event: Mapping[str, Any]) -> Receipt:
        """Validate and send one event; a `Receipt` (its `event_id`, later its offset).

        Raises `InvalidEvent` (field and rule) before anything is sent.
        """
        key, value, complete = encode_event(topic, event)
        receipt = self.send_raw(topic, key, value)
        receipt.event_id = complete["event_id"]
        return receipt

    def publish_many(
        self,
        pairs: Iterable[tuple[str, Mapping[str, Any]]],
        on_invalid: Callable[[int, InvalidEvent], None] | None = None,
    ) -> int:
        """Publish `(topic, event)` pairs; returns how many were sent.

        A bad event raises `InvalidEvent` unless `on_invalid(index, error)` is
        given, which then receives it and publishing goes on.
        """
        send = self.send_raw
        sent = 0
        for index, (topic, event) in enumerate(pairs):
            try:
                key, value, _ = encode_event(topic, event)
            except InvalidEvent as exc:
                if on_invalid is None:
                    raise
                on_invalid(index, exc)
                continue
            send(topic, key, value)
            sent += 1
        return sent

    def send_raw(self, topic: str, key: bytes | None, value: bytes) -> Receipt:
        """Send bytes already validated; the outcome is counted when Kafka answers."""
        receipt = Receipt(self, topic, key, value)
        future = self._send(topic, key, value)
        receipt._future = future
        # Counted before the callbacks are added: they may run at once.
        self._sent += 1
        self._outstanding[receipt] = True
        future.add_callback(receipt._ok)
        future.add_errback(receipt._fail)
        return receipt

    def send_counted(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Send bytes already validated, with no receipt: the bulk path.

        The outcome is still counted exactly (a callback counts the
        acknowledgement, an errback keeps the record's bytes and reason in the
        report), but no per-record object or table entry is kept: only
        kafka-python's own future holds the record until Kafka answers.
        """
        # `_send` inlined: one Python call less per record is measurable here.
        if self._closed:
            raise DeliveryFailed("the publisher is closed")
        if self._sent - self._acked - self._failed >= self._max_pending:
            self._wait_for_room()
        try:
            future = self._producer.send(topic, key=key, value=value)
        except _REFUSED_SENDS as exc:
            raise self._refused(topic, exc) from exc
        self._sent += 1
        future.add_callback(self._ack_callback)
        future.add_errback(self._fail_callback, topic, key, value)

    def _send(self, topic: str, key: bytes | None, value: bytes) -> Any:
        """Hand one record to kafka-python (after waiting for room); its future."""
        if self._closed:
            raise DeliveryFailed("the publisher is closed")
        if self._sent - self._acked - self._failed >= self._max_pending:
            self._wait_for_room()
        try:
            return self._producer.send(topic, key=key, value=value)
        except _REFUSED_SENDS as exc:
            raise self._refused(topic, exc) from exc

    def _refused(self, topic: str, exc: Exception) -> InvalidEvent | BrokerUnavailable:
        """Our error for a record kafka-python would not take: too large, or no broker answer."""
        if isinstance(exc, _kafka_errors.MessageSizeTooLargeError):
            return InvalidEvent("", f"event too large for Kafka: {kafka_reason(exc)}")
        return BrokerUnavailable(
            f"Kafka at {self.bootstrap} did not answer for topic {topic!r}: {kafka_reason(exc)}"
        )

    # ------------------------------------------------------------------ outcomes

    def _on_ack(self, _metadata: Any) -> None:
        # `+=` on an attribute is not atomic, and two threads may run callbacks.
        with self._lock:
            self._acked += 1

    def _on_bulk_failure(
        self, topic: str, key: bytes | None, value: bytes, exc: BaseException
    ) -> None:
        # A kafka-python future runs its errbacks at most once: no double count.
        self._count_failure(topic, key, value, self._closing_reason or kafka_reason(exc))

    def _record_failure(self, receipt: Receipt, exc: BaseException) -> None:
        reason = self._closing_reason or kafka_reason(exc)
        with self._lock:
            if not self._outstanding.pop(receipt, False):
                return  # already answered: a record is counted once
        self._count_failure(receipt.topic, receipt.key, receipt.value, reason)

    def _count_failure(self, topic: str, key: bytes | None, value: bytes, reason: str) -> None:
        with self._lock:
            self._failed += 1
            if len(self._failed_records) < MAX_FAILED_RECORDS_KEPT:
                self._failed_records.append(FailedRecord(topic, key, value, reason))
            if len(self._errors) < MAX_ERRORS_KEPT and reason not in self._errors:
                self._errors.append(reason)

    def _pending(self) -> int:
        """Records sent and not answered yet (receipts and bulk alike)."""
        # Read acked before failed: a record moves from pending to one of them,
        # never from acked to failed, so the difference never goes negative.
        acked = self._acked
        return self._sent - acked - self._failed

    @property
    def report(self) -> DeliveryReport:
        """A snapshot of every record's outcome so far."""
        with self._lock:
            sent = self._sent
            acked = self._acked
            failed = self._failed
            return DeliveryReport(
                sent=sent,
                delivered=acked,
                failed=failed,
                pending=sent - acked - failed,
                errors=tuple(self._errors),
                failed_records=tuple(self._failed_records),
            )

    def unconfirmed(self) -> list[FailedRecord]:
        """The receipt-tracked records still waiting for Kafka's answer, in send order.

        Records sent by `send_counted` (the bulk path) are not listed here:
        they are counted in `report.pending`, and their bytes reach
        `report.failed_records` if they fail.
        """
        return [
            FailedRecord(r.topic, r.key, r.value, "unconfirmed") for r in list(self._outstanding)
        ]

    # ------------------------------------------------------------------ waiting

    def _wait_for_room(self) -> None:
        """Wait until half the pending records are answered; raise if Kafka stalls."""
        low = self._max_pending // 2
        last = self._pending()
        deadline = time.monotonic() + self._stall_timeout
        while self._pending() > low:
            now_pending = self._pending()
            if now_pending < last:
                # Progress: the stall clock restarts.
                last = now_pending
                deadline = time.monotonic() + self._stall_timeout
            elif time.monotonic() >= deadline:
                raise BrokerUnavailable(
                    f"Kafka at {self.bootstrap} acknowledged none of {now_pending} pending "
                    f"events for {self._stall_timeout:g}s"
                )
            self._kick(0.005)

    def _kick(self, timeout: float) -> None:
        """Make every buffered batch sendable now and wait up to `timeout` for answers."""
        from kafka.errors import KafkaTimeoutError

        with contextlib.suppress(KafkaTimeoutError):
            self._producer.flush(timeout=timeout)

    def flush(self, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> DeliveryReport:
        """Send everything buffered and wait for each record's answer, at most `timeout` s.

        kafka-python's own `flush(timeout)` waits `timeout` per batch and says
        nothing of failures, so the deadline and the outcome are ours. On a
        timeout the report's `pending` says how many are still unanswered.
        """
        deadline = time.monotonic() + timeout
        while self._pending():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._kick(min(_POLL_SECONDS, remaining))
        return self.report

    def close(self, timeout: float | None = None) -> DeliveryReport:
        """Flush (at most `timeout`, default `close_timeout`), then close.

        Records still unanswered at the deadline are not dropped: the producer
        is closed forcefully, which fails each of them, and they are reported
        in `failed_records` with the reason "unconfirmed", bytes included.
        """
        if self._closed:
            return self.report
        timeout = self._close_timeout if timeout is None else timeout
        self.flush(timeout)
        if self._pending():
            self._closing_reason = f"unconfirmed: no answer from Kafka within {timeout:g}s"
            self._force_close()
        else:
            from kafka.errors import KafkaTimeoutError

            with contextlib.suppress(KafkaTimeoutError):
                self._producer.close(timeout=5)
        self._closed = True
        # Anything the forced close did not resolve is failed here: never silent.
        for receipt in list(self._outstanding):
            receipt._fail(TimeoutError("producer closed"))
        # A forced close aborts every incomplete batch, in flight or not, so
        # no bulk record should be left; if one is, it is still counted failed
        # (its bytes are held only by kafka-python's future, out of reach).
        left = self._pending()
        if left > 0:
            with self._lock:
                self._failed += left
                reason = f"{left} records unanswered after close; bytes not recoverable"
                if len(self._errors) < MAX_ERRORS_KEPT:
                    self._errors.append(reason)
        return self.report

    def _force_close(self) -> None:
        """Stop kafka-python's sender so it fails every incomplete batch.

        kafka-python's `close()` flushes first and raises on a timeout before
        it would force-close, so a stalled producer cannot be closed through
        the public API; its sender's `force_close()` is the documented way the
        producer itself ends (it aborts incomplete batches, failing their
        futures, which our errbacks count).
        """
        from kafka.errors import KafkaTimeoutError

        sender = getattr(self._producer, "_sender", None)
        if sender is not None:
            sender.force_close()
            sender.join(5)
        with contextlib.suppress(KafkaTimeoutError):
            self._producer.close(timeout=0)

    def __enter__(self) -> ActivityPublisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        report = self.close()
        if exc_type is None and not report.ok:
            raise DeliveryFailed(
                f"{report.failed} events failed and {report.pending} are unconfirmed "
                f"of {report.sent} sent; first error: {(report.errors or ('timeout',))[0]}"
            )
