"""The destinations' dead-letter topics: where a failing destination's activities wait.

One topic per destination (`schemas.topics.destination_dead_letter_topic`), one
partition, so the parked activities keep their order. Each record is one
activity: key the event id, value the JSON the destination would have received,
headers the destination and why it was parked. A replay reads the topic from the
replay group's committed offset to the end it saw when it started, delivering
and committing a request's worth at a time: a replay cut short resumes where it
stopped, and re-sends at most the one request in flight (same event ids).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from common.retry import Backoff, retry
from processors.delivery.lane import Item
from schemas.topics import destination_dead_letter_topic

log = logging.getLogger(__name__)

DESTINATION_HEADER: Final = "activitylog.destination"
REASON_HEADER: Final = "activitylog.reason"


class Parking:
    """Parks items on a destination's topic and replays them (the lanes' `Parking`)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        group: str,
        replication: int,
        batch_max: int,
        stopping: asyncio.Event,
    ) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.replication = replication
        self.batch_max = batch_max
        self.stopping = stopping
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        self._declared: set[str] = set()

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def declare(self, destination_id: str) -> str:
        """Create the destination's topic once (one partition: the parked order is kept)."""
        topic = destination_dead_letter_topic(destination_id)
        if topic in self._declared:
            return topic
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            # An existing topic answers TOPIC_ALREADY_EXISTS in the response, not an error.
            await admin.create_topics([NewTopic(topic, 1, self.replication)])
        finally:
            await admin.close()
        self._declared.add(topic)
        return topic

    async def park(self, destination_id: str, items: Sequence[Item], reason: str) -> bool:
        async def send_all() -> None:
            topic = await self.declare(destination_id)
            headers = [
                (DESTINATION_HEADER, destination_id.encode()),
                (REASON_HEADER, reason.encode()[:2000]),
            ]
            pending = [
                await self.producer.send(
                    topic,
                    key=item.event_id.encode(),
                    value=orjson.dumps(item.activity),
                    headers=headers,
                )
                for item in items
            ]
            await asyncio.gather(*pending)

        def failed(exc: Exception, attempt: int, delay: float) -> None:
            log.warning(
                "event=park_retry destination=%s events=%d retry_in_s=%.1f error=%r",
                destination_id,
                len(items),
                delay,
                str(exc),
            )

        # The broker may be restarting: retry, never drop. A retry after a partial send
        # parks some twice, with their event ids: a replay delivers them twice, as retries do.
        done = await retry(
            send_all,
            retry_on=Exception,
            stopping=self.stopping,
            on_failure=failed,
            backoff=Backoff(),
        )
        return done is not None

    async def replay(
        self, destination_id: str, deliver: Callable[[list[dict[str, Any]]], Awaitable[bool]]
    ) -> bool:
        topic = await self.declare(destination_id)
        part = TopicPartition(topic, 0)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=f"{self.group}.replay.{destination_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            consumer.assign([part])
            end = (await consumer.end_offsets([part]))[part]
            committed = await consumer.committed(part)
            position = committed or 0
            consumer.seek(part, position)
            replayed = 0
            while position < end:
                fetched = await consumer.getmany(part, timeout_ms=1000, max_records=self.batch_max)
                records = [r for r in fetched.get(part, []) if r.offset < end]
                if not records:
                    continue
                activities = [orjson.loads(r.value) for r in records if r.value is not None]
                if not await deliver(activities):
                    return False  # failing again: the rest stays parked
                position = records[-1].offset + 1
                await consumer.commit({part: OffsetAndMetadata(position, "")})
                replayed += len(activities)
            log.info("event=replayed destination=%s activities=%d", destination_id, replayed)
            return True
        finally:
            await consumer.stop()
