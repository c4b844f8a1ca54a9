"""The Faust app: consume both v1 topics, process in batches, insert, then ack.

The flow of one batch, in order (the commit is last and only after the insert):

    noack_take -> process_batch (pure) -> dead letters delivered -> one insert -> ack

Events are taken with `noack_take` and acknowledged by hand only after the
rows are in ClickHouse and every bad message is on the dead-letter topic, so
Faust's timer commit can never move past an event that is not stored.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import faust

from common.retry import retry
from common.settings import Settings
from common.store import Store
from processors import fast_consumer
from processors.batch import BatchResult, Consumed, Rejected, process_batch
from processors.dead_letter import dead_letter_headers
from processors.metrics import (
    BATCH_SIZE,
    CONSUMER_LAG,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_STORED,
)
from processors.writer import BatchWriter
from schemas.topics import DEAD_LETTER_TOPIC, SOURCE_TOPICS

log = logging.getLogger(__name__)


class IngestWorker:
    """A Faust app whose single agent turns the v1 topics into activity rows."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.writer = BatchWriter(store)
        self.stopping = asyncio.Event()
        self._inflight = asyncio.Lock()
        self._storing: asyncio.Future[bool] | None = None  # the batch being inserted, then acked
        self.batches = 0
        datadir = Path(settings.state_dir) / "faust"
        datadir.parent.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            settings.consumer_group,
            broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
            datadir=str(datadir),
            autodiscover=False,
            web_enabled=False,
            topic_disable_leader=True,
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication,
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=1.0,
            # A killed worker's partitions move on after this (default 60 s);
            # heartbeats at a third of it, as Kafka recommends.
            broker_session_timeout=settings.kafka_session_timeout,
            broker_heartbeat_interval=settings.kafka_session_timeout / 3,
            # Throughput settings measured in docs/components.md: the default 4096 buffer
            # makes the conductor pause partitions; bigger fetches mean fewer
            # round trips; the Cython stream iterator and conductor are opt-in;
            # the stock Monitor times every message for web views we do not serve.
            stream_buffer_maxsize=65_536,
            consumer_max_fetch_size=8 * 1024 * 1024,
            cython_optimizations=True,
            Monitor=fast_consumer.QuietMonitor,
            Stream=fast_consumer.BatchStream,
            key_serializer="raw",
            value_serializer="raw",
        )
        # The consumer without Faust's per-message `wait_first` (see fast_consumer).
        self.fast_path = fast_consumer.install(self.app)
        self.source = self.app.topic(*SOURCE_TOPICS, schema=fast_consumer.RawSchema())
        self.dead_letters = self.app.topic(
            DEAD_LETTER_TOPIC, key_serializer="raw", value_serializer="raw"
        )
        self.app.on_partitions_assigned.connect(cast(Any, self._on_assigned))
        # concurrency=1: concurrent agents have committed past in-flight messages
        # (docs/components.md).
        self.app.agent(self.source, name="ingest", concurrency=1)(self._ingest)

    async def _on_assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """Log this worker's share of the partitions (several workers split them)."""
        assigned = args[0] if args else kwargs.get("assigned", ())
        ours = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned if tp.topic in SOURCE_TOPICS)
        log.info("event=partitions_assigned partitions=%s", ",".join(ours) or "-")

    async def _ingest(self, stream: Any) -> None:
        if self.fast_path and isinstance(stream, fast_consumer.BatchStream):
            batches = stream.take_unacked(
                self.settings.batch_max_events, self.settings.batch_max_seconds
            )
        else:  # Faust's own batching (never acks: we ack after the insert)
            batches = stream.noack_take(
                self.settings.batch_max_events, within=self.settings.batch_max_seconds
            )
        # Two batches in flight at most: while one is inserted (on a thread), the
        # next is validated and normalized here. Inserts and acks stay in batch order.
        async for events in batches:
            async with self._inflight:
                prepared = await self._prepare(events)
                if prepared is None or not await self._stored():
                    log.info(
                        "event=stopping unacknowledged=%d reason=%s",
                        len(events),
                        "stop requested while the batch could not be stored",
                    )
                    return
                self._storing = asyncio.ensure_future(self._store(events, prepared))

    async def _stored(self) -> bool:
        """Wait for the batch being stored, if any; False if it stopped unstored."""
        storing, self._storing = self._storing, None
        return storing is None or await storing

    async def _prepare(self, events: Sequence[Any]) -> _Prepared | None:
        """Validate and normalize a batch, and dead-letter its bad messages (None: stopping)."""
        started = time.perf_counter()
        batch = [_consumed(event.message) for event in events]
        BATCH_SIZE.observe(len(batch))
        for topic, n in Counter(m.topic for m in batch).items():
            EVENTS_CONSUMED.labels(topic).inc(n)
        result = process_batch(batch, datetime.now(UTC), self.settings.max_event_bytes)
        for rejected in result.rejected:
            if not await self._dead_letter(rejected):
                return None
        return _Prepared(batch, result, time.perf_counter() - started)

    async def _store(self, events: Sequence[Any], prepared: _Prepared) -> bool:
        """Insert the batch's rows, then ack its events; False if stopping while unstored."""
        started = time.perf_counter()
        batch, result = prepared.batch, prepared.result
        if not await self.writer.write(result.rows, self.stopping):
            return False
        # Acked only now: the rows are stored and the dead letters delivered.
        # `event.ack()` is what `stream.ack()` does minus the per-event
        # sensor calls (our sensors count per batch).
        for event in events:
            event.ack()
        self.batches += 1
        for topic, n in Counter(row["kafka_topic"] for row in result.rows).items():
            EVENTS_STORED.labels(topic).inc(n)
        self._record_lag(batch)
        log.info(
            "event=batch_stored events=%d rows=%d dead_lettered=%d process_ms=%.1f "
            "insert_ms=%.1f first=%s last=%s",
            len(batch),
            len(result.rows),
            len(result.rejected),
            prepared.seconds * 1000,
            (time.perf_counter() - started) * 1000,
            _where(batch[0]) if batch else "-",
            _where(batch[-1]) if batch else "-",
        )
        return True

    async def _dead_letter(self, rejected: Rejected) -> bool:
        """Forward the original bytes with the reason; retried until delivered or stopping."""
        m = rejected.message

        async def send() -> None:
            pending = await self.dead_letters.send(
                key=m.key, value=m.value, headers=dead_letter_headers(rejected)
            )
            await pending

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
        if await retry(send, retry_on=Exception, stopping=self.stopping, on_failure=failed) is None:
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

    def _record_lag(self, batch: Sequence[Consumed]) -> None:
        last: dict[tuple[str, int], int] = {}
        for m in batch:
            last[(m.topic, m.partition)] = m.offset
        for (topic, partition), offset in last.items():
            try:
                highwater = self.app.consumer.highwater(faust.types.TP(topic, partition))
            except Exception:  # lag is best effort; never fail a batch over it
                continue
            if highwater is not None:
                CONSUMER_LAG.labels(topic, str(partition)).set(max(highwater - offset - 1, 0))

    async def start(self) -> None:
        await self.app.start()
        # Everything allocated so far (modules, Faust's services) lives as long
        # as the process: freeze it out of the collector's scans, and collect
        # less often, since every batch allocates tens of thousands of objects
        # that die together (docs/components.md, faust-streaming: part of Faust's per-event cost).
        gc.freeze()
        gc.set_threshold(50_000, 20, 50)
        log.info(
            "event=worker_started group=%s fast_consumer=%s batch_stream=%s batch_max_events=%d "
            "batch_max_seconds=%s loop=%s",
            self.settings.consumer_group,
            self.fast_path,
            cast(Any, self.app.conf).Stream is fast_consumer.BatchStream,
            self.settings.batch_max_events,
            self.settings.batch_max_seconds,
            # Which loop runs: `activitylog worker` uses uvloop when installed.
            type(asyncio.get_running_loop()).__module__.split(".")[0],
        )

    async def stop(self) -> None:
        """Finish the batch in flight, commit what is acknowledged, then stop Faust."""
        self.stopping.set()
        async with self._inflight:
            await self._stored()
            for _ in range(10):
                try:
                    if await self.app.consumer.commit():
                        break
                except Exception as exc:  # nothing to commit yet, or the broker is gone
                    log.debug("final commit attempt failed: %s", exc)
                    break
                # False means the timer's commit is in flight (docs/components.md): try again.
                await asyncio.sleep(0.1)
        await self.app.stop()


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A batch validated and normalized, its dead letters delivered: ready to store."""

    batch: list[Consumed]
    result: BatchResult
    seconds: float


def _where(m: Consumed) -> str:
    return f"{m.topic}[{m.partition}]@{m.offset}"


def _consumed(message: Any) -> Consumed:
    headers = message.headers or ()
    if isinstance(headers, dict):
        headers = list(headers.items())
    return Consumed(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple(headers),
    )
