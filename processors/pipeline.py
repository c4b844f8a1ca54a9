"""The order in which a batch is handled, whatever consumes it:

    prepare (process_batch, pure) -> dead letters delivered -> one insert
        -> the stored rows announced on the stored-activity topic -> ack

A batch is acknowledged only once its rows are stored, every bad message is
on the dead-letter topic and the stored rows are announced, so no commit can
move past an event that is not stored (docs/components.md), and a stored event
is always announced: a worker killed after the insert consumes the batch again,
stores it again (the copies collapse) and announces it again. Two batches are
in flight at most: while one is inserted (on a thread), the next is validated,
normalized and encoded for the stored-activity topic, and its dead letters
delivered; inserts, announcements and acks stay in batch order.

Asked to stop, the pipeline waits for the batch being stored. A batch that
cannot be stored (the store or the broker is down) is left unacknowledged, to
be consumed again after the restart.

The consumer is given as small protocols: the pipeline knows nothing of Faust
or of a Kafka client (`processors.worker` wires it to both).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from common.retry import Backoff, retry
from processors.batch import BatchResult, Consumed, Rejected, process_batch
from processors.dead_letter import dead_letter_headers
from processors.metrics import BATCH_SIZE, EVENTS_CONSUMED, EVENTS_DEAD_LETTERED, EVENTS_STORED
from processors.stored import stored_records
from schemas.activity import ActivityRow

log = logging.getLogger(__name__)

# Acknowledges one batch's messages (its offsets may then be committed).
Ack = Callable[[], None]


class DeadLetterSink(Protocol):
    """The dead-letter topic."""

    async def send(
        self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        """Return once the broker has the message; raise if it was not delivered."""


class StoredSink(Protocol):
    """The stored-activity topic (`processors/stored.py`)."""

    async def send_all(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Return once the broker has every (key, value); raise if one was not delivered."""


class RowWriter(Protocol):
    """The activity table (`processors.writer.BatchWriter`)."""

    async def write(self, rows: Sequence[ActivityRow], stopping: asyncio.Event) -> bool:
        """Insert `rows` in one insert, retrying; False if `stopping` was set before it stored."""


def _now() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    """Prepares, dead-letters, stores and acknowledges batches, one `submit` per batch."""

    def __init__(
        self,
        writer: RowWriter,
        dead_letters: DeadLetterSink,
        stopping: asyncio.Event,
        *,
        max_event_bytes: int,
        clock: Callable[[], datetime] = _now,
        dead_letter_backoff: Callable[[], Backoff] = Backoff,
        stored: StoredSink | None = None,
    ) -> None:
        self.writer = writer
        self.dead_letters = dead_letters
        self.stored = stored  # None: the stored rows are not announced (no delivery agent)
        self.stopping = stopping
        self.max_event_bytes = max_event_bytes
        self.batches = 0  # batches stored and acknowledged
        self._clock = clock
        self._backoff = dead_letter_backoff
        self._inflight = asyncio.Lock()
        self._storing: asyncio.Future[bool] | None = None  # the batch being inserted, then acked

    async def submit(self, batch: Sequence[Consumed], ack: Ack) -> bool:
        """Prepare `batch`, wait for the previous one to be stored, then start storing this one.

        Returns while this batch is being inserted; `ack` is called once it is
        stored. False when stopping left a batch unstored: the caller stops
        consuming, and leaves this batch unacknowledged.
        """
        async with self._inflight:
            prepared = await self._prepare(batch)
            if prepared is None or not await self._stored():
                log.info(
                    "event=stopping unacknowledged=%d reason=%s",
                    len(batch),
                    "stop requested while the batch could not be stored",
                )
                return False
            self._storing = asyncio.ensure_future(self._store(prepared, ack))
            return True

    @contextlib.asynccontextmanager
    async def drained(self) -> AsyncIterator[None]:
        """Wait for the batch being stored; no other batch starts until the block ends."""
        async with self._inflight:
            await self._stored()
            yield

    async def _stored(self) -> bool:
        """Wait for the batch being stored, if any; False if it stopped unstored."""
        storing, self._storing = self._storing, None
        return storing is None or await storing

    async def _prepare(self, batch: Sequence[Consumed]) -> _Prepared | None:
        """Validate and normalize a batch, and dead-letter its bad messages (None: stopping)."""
        started = time.perf_counter()
        BATCH_SIZE.observe(len(batch))
        for topic, n in Counter(m.topic for m in batch).items():
            EVENTS_CONSUMED.labels(topic).inc(n)
        result = process_batch(batch, self._clock(), self.max_event_bytes)
        for rejected in result.rejected:
            if not await self._dead_letter(rejected):
                return None
        # Encoded here, while the previous batch's insert runs on its thread.
        records = stored_records(result.rows) if self.stored is not None else []
        return _Prepared(batch, result, records, time.perf_counter() - started)

    async def _store(self, prepared: _Prepared, ack: Ack) -> bool:
        """Insert the batch's rows, then ack it; False if stopping while unstored."""
        started = time.perf_counter()
        batch, result = prepared.batch, prepared.result
        if not await self.writer.write(result.rows, self.stopping):
            return False
        if not await self._announce(prepared.records):
            return False
        # Acked only now: the rows are stored and announced, the dead letters delivered.
        ack()
        self.batches += 1
        for topic, n in Counter(row["kafka_topic"] for row in result.rows).items():
            EVENTS_STORED.labels(topic).inc(n)
        log.info(
            "event=batch_stored events=%d rows=%d dead_lettered=%d process_ms=%.1f "
            "insert_ms=%.1f first=%s last=%s",
            len(batch),
            len(result.rows),
            len(result.rejected),
            prepared.seconds * 1000,
            (time.perf_counter() - started) * 1000,
            _position(batch[0]) if batch else "-",
            _position(batch[-1]) if batch else "-",
        )
        return True

    async def _announce(self, records: Sequence[tuple[bytes, bytes]]) -> bool:
        """Publish the stored rows' records, retried until the broker has them all or stopping.

        A retry after a partial send announces some rows twice, with their event ids, as a
        batch consumed again after a crash does.
        """
        stored = self.stored
        if stored is None or not records:
            return True

        async def send() -> None:
            await stored.send_all(records)

        def failed(exc: Exception, attempt: int, delay: float) -> None:
            log.warning(
                "event=stored_announce_retry records=%d attempt=%d retry_in_s=%.1f error=%r",
                len(records),
                attempt,
                delay,
                str(exc),
            )

        sent = await retry(
            send,
            retry_on=Exception,
            stopping=self.stopping,
            on_failure=failed,
            backoff=self._backoff(),
        )
        return sent is not None

    async def _dead_letter(self, rejected: Rejected) -> bool:
        """Forward the original bytes with the reason; retried until delivered or stopping."""
        m = rejected.message
        headers = dead_letter_headers(rejected)

        async def send() -> None:
            await self.dead_letters.send(m.key, m.value, headers)

        def failed(exc: Exception, attempt: int, delay: float) -> None:
            log.warning(
                "event=dead_letter_retry topic=%s partition=%d offset=%d retry_in_s=%.1f error=%r",
                m.topic,
                m.partition,
                m.offset,
                delay,
                str(exc),
            )

        # The broker may be restarting: retry, never drop.
        delivered = await retry(
            send,
            retry_on=Exception,
            stopping=self.stopping,
            on_failure=failed,
            backoff=self._backoff(),
        )
        if delivered is None:
            return False
        EVENTS_DEAD_LETTERED.labels(m.topic, rejected.error_class).inc()
        log.warning(
            "event=dead_lettered topic=%s partition=%d offset=%d error_class=%s reason=%r",
            m.topic,
            m.partition,
            m.offset,
            rejected.error_class,
            rejected.reason,
        )
        return True


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A batch validated and normalized, its dead letters delivered: ready to store."""

    batch: Sequence[Consumed]
    result: BatchResult
    records: Sequence[tuple[bytes, bytes]]  # for the stored-activity topic
    seconds: float


def _position(m: Consumed) -> str:
    """Where a message was read: `topic[partition]@offset`."""
    return f"{m.topic}[{m.partition}]@{m.offset}"
