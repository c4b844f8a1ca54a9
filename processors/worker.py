"""The Faust app: consume both v1 topics in batches and hand them to the pipeline.

`processors.pipeline` holds the order of one batch (prepare, dead letters,
one insert, ack); this module wires it to Faust. Events are taken without
acknowledgement (`noack_take`, or the fast path's `take_unacked`) and acked by
the pipeline only after the rows are in ClickHouse and every bad message is on
the dead-letter topic, so Faust's timer commit can never move past an event
that is not stored.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import faust

from common.settings import Settings
from common.store import Store
from processors import fast_consumer
from processors.batch import Consumed
from processors.metrics import CONSUMER_LAG
from processors.pipeline import Pipeline
from processors.writer import BatchWriter
from schemas.topics import DEAD_LETTER_TOPIC, SOURCE_TOPICS, STORED_TOPIC, STORED_TOPIC_MAX_BYTES

log = logging.getLogger(__name__)


class IngestWorker:
    """A Faust app whose single agent turns the v1 topics into activity rows."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.writer = BatchWriter(store)
        self.stopping = asyncio.Event()
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
            # The stored-activity topic's records may be as large as the topic takes.
            producer_max_request_size=STORED_TOPIC_MAX_BYTES,
        )
        # The consumer without Faust's per-message `wait_first` (see fast_consumer).
        self.fast_path = fast_consumer.install(self.app)
        self.source = self.app.topic(*SOURCE_TOPICS, schema=fast_consumer.RawSchema())
        self.dead_letters = self.app.topic(
            DEAD_LETTER_TOPIC, key_serializer="raw", value_serializer="raw"
        )
        self.stored = self.app.topic(STORED_TOPIC, key_serializer="raw", value_serializer="raw")
        self.pipeline = Pipeline(
            self.writer,
            _DeadLetterTopic(self.dead_letters),
            self.stopping,
            max_event_bytes=settings.max_event_bytes,
            stored=_StoredTopic(self.stored),
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
        async for events in batches:
            batch = [_consumed(event.message) for event in events]
            if not await self.pipeline.submit(batch, functools.partial(self._ack, events, batch)):
                return

    @property
    def batches(self) -> int:
        """Batches stored and acknowledged since the start."""
        return self.pipeline.batches

    def _ack(self, events: Sequence[Any], batch: Sequence[Consumed]) -> None:
        """Acknowledge a stored batch's events, then record the lag their offsets leave."""
        # `event.ack()` is what `stream.ack()` does minus the per-event
        # sensor calls (our sensors count per batch).
        for event in events:
            event.ack()
        self._record_lag(batch)

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
        async with self.pipeline.drained():
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


class _DeadLetterTopic:
    """The dead-letter topic as the pipeline's sink: a send returns once the broker has it."""

    def __init__(self, topic: Any) -> None:
        self._topic = topic

    async def send(
        self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        pending = await self._topic.send(key=key, value=value, headers=list(headers))
        await pending


class _StoredTopic:
    """The stored-activity topic as the pipeline's sink: every record sent, then every ack."""

    def __init__(self, topic: Any) -> None:
        self._topic = topic

    async def send_all(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        pending = [await self._topic.send(key=key, value=value) for key, value in records]
        await asyncio.gather(*pending)


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
