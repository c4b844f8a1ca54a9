"""The Faust app: consume both v1 topics, process in batches, insert, then ack.

The flow of one batch, in order (the commit is last and only after the insert):

    noack_take -> process_batch (pure) -> dead letters delivered -> one insert -> ack

Events are taken with `noack_take` and acknowledged by hand only after the
rows are in ClickHouse and every bad message is on the dead-letter topic, so
Faust's timer commit can never move past an event that is not stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust

from activitylog.settings import Settings
from activitylog.store import Store
from processors.batch import Consumed, Rejected, process_batch
from processors.dead_letter import dead_letter_headers
from processors.metrics import (
    BATCH_SIZE,
    CONSUMER_LAG,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_STORED,
)
from processors.writer import BatchWriter, _wait
from schemas.topics import DEAD_LETTER_TOPIC, SOURCE_TOPICS

log = logging.getLogger(__name__)


class IngestWorker:
    """A Faust app whose single agent turns the v1 topics into activity rows."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.writer = BatchWriter(store)
        self.stopping = asyncio.Event()
        self._inflight = asyncio.Lock()
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
            stream_buffer_maxsize=65_536,
            key_serializer="raw",
            value_serializer="raw",
        )
        self.source = self.app.topic(*SOURCE_TOPICS, key_serializer="raw", value_serializer="raw")
        self.dead_letters = self.app.topic(
            DEAD_LETTER_TOPIC, key_serializer="raw", value_serializer="raw"
        )
        # concurrency=1: concurrent agents have committed past in-flight messages (design §8).
        self.app.agent(self.source, name="ingest", concurrency=1)(self._ingest)

    async def _ingest(self, stream: Any) -> None:
        async for events in stream.noack_take(
            self.settings.batch_max_events, within=self.settings.batch_max_seconds
        ):
            async with self._inflight:
                if not await self._handle(events):
                    log.info("stopping with %d events not acknowledged", len(events))
                    return
                for event in events:
                    await stream.ack(event)
                self.batches += 1

    async def _handle(self, events: Sequence[Any]) -> bool:
        batch = [_consumed(event.message) for event in events]
        BATCH_SIZE.observe(len(batch))
        for m in batch:
            EVENTS_CONSUMED.labels(m.topic).inc()
        result = process_batch(batch, datetime.now(UTC), self.settings.max_event_bytes)
        for rejected in result.rejected:
            if not await self._dead_letter(rejected):
                return False
        if not await self.writer.write(result.rows, self.stopping):
            return False
        for row in result.rows:
            EVENTS_STORED.labels(row["kafka_topic"]).inc()
        self._record_lag(batch)
        return True

    async def _dead_letter(self, rejected: Rejected) -> bool:
        """Forward the original bytes with the reason; retried until delivered or stopping."""
        m = rejected.message
        delay = 0.5
        while True:
            try:
                pending = await self.dead_letters.send(
                    key=m.key, value=m.value, headers=dead_letter_headers(rejected)
                )
                await pending
            except Exception as exc:  # the broker may be restarting: retry, never drop
                log.warning("dead-letter send failed, retrying in %.1fs: %s", delay, exc)
                if await _wait(self.stopping, delay):
                    return False
                delay = min(delay * 2, 30.0)
                continue
            EVENTS_DEAD_LETTERED.labels(m.topic, rejected.error_class).inc()
            log.warning(
                "dead-lettered %s[%d]@%d: %s", m.topic, m.partition, m.offset, rejected.reason
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

    async def stop(self) -> None:
        """Finish the batch in flight, commit what is acknowledged, then stop Faust."""
        self.stopping.set()
        async with self._inflight:
            for _ in range(10):
                try:
                    if await self.app.consumer.commit():
                        break
                except Exception as exc:  # nothing to commit yet, or the broker is gone
                    log.debug("final commit attempt failed: %s", exc)
                    break
                # False means the timer's commit is in flight (design §8): try again.
                await asyncio.sleep(0.1)
        await self.app.stop()


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
