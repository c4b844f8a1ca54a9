"""The delivery agent: a consumer group on the stored-activity topic, a lane per destination.

Why that topic (docs/architecture.md, Delivery): the worker publishes on it
what it has stored, after the insert and before committing its offsets
(`processors/stored.py`), so every activity read there is one the log shows,
already validated and normalized, and none that the worker dead-lettered. The
agent only matches, queues and sends. Its records are keyed by partner: a
partner without a destination costs one dictionary lookup per record, its
activities are never decoded.

Guarantees, as the ingest worker's: offsets are committed only for batches
whose every activity is delivered or parked, in batch order, so a kill -9
loses nothing and re-sends at most what was in flight, with the same event ids.
The ingest worker never waits for this agent, nor one lane for another.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from common.destination_key import destinations_key
from common.retry import wait_for_stop
from common.settings import Settings
from common.store import Store
from common.timefmt import iso_utc
from processors.delivery import metrics
from processors.delivery.lane import Item, Lane
from processors.delivery.parking import Parking
from processors.delivery.sender import Sender
from processors.stored import partition_of, read_stored
from schemas.destination_table import read_destination, read_destinations, write_destination
from schemas.destinations import STATE_DELETED, Destination, NetworkPolicy, derive_secret
from schemas.topics import STORED_TOPIC, STORED_TOPIC_MAX_BYTES

log = logging.getLogger(__name__)

# How often the destinations are read again while nothing is consumed (a replay asked for);
# they are also read before each consumed batch is dispatched.
REFRESH_SECONDS: Final = 2.0
# Batches consumed but not yet committed, at most: beyond, the agent waits for its lanes.
# A batch's record is a few offsets; the activities themselves are bounded per lane
# (ACTIVITYLOG_DELIVERY_MAX_PENDING), so a hanging destination is parked long before this.
MAX_OPEN_BATCHES: Final = 10_000
# Records taken per fetch. A record holds up to 256 KiB of one partner's activities (a few
# hundred), so this keeps a fetch near one worker batch (10,000 activities by default) rather
# than millions: a lane more than ACTIVITYLOG_DELIVERY_MAX_PENDING behind is parked.
MAX_FETCH_RECORDS: Final = 64


@dataclass
class _Batch:
    """A consumed batch: the offsets to commit once its `open` activities are all done."""

    offsets: dict[TopicPartition, int]
    open: int = 0


class DeliveryAgent:
    """Consumes the stored-activity topic in group `ACTIVITYLOG_DELIVERY_GROUP`; delivers."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.stopping = asyncio.Event()
        self.crash_reason: str | None = None
        self.key = destinations_key(settings)
        self.sender = Sender(
            NetworkPolicy(
                settings.destinations_allow_loopback, settings.destinations_allow_private
            ),
            timeout=settings.delivery_timeout_seconds,
        )
        self.parking = Parking(
            settings.kafka_bootstrap,
            group=settings.delivery_group,
            replication=settings.topic_replication,
            batch_max=settings.delivery_batch_max_events,
            stopping=self.stopping,
        )
        self.consumer = AIOKafkaConsumer(
            STORED_TOPIC,
            bootstrap_servers=settings.kafka_bootstrap,
            max_partition_fetch_bytes=STORED_TOPIC_MAX_BYTES,
            group_id=settings.delivery_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(settings.kafka_session_timeout * 1000),
            heartbeat_interval_ms=int(settings.kafka_session_timeout * 1000 / 3),
        )
        self.lanes: dict[str, Lane] = {}
        self.destinations: list[Destination] = []
        # The live destinations with a lane, by the stored topic's key (the partner id).
        self._targets: dict[bytes, list[tuple[Destination, Lane]]] = {}
        self._open: deque[_Batch] = deque()
        self._refreshed = 0.0
        self._task: asyncio.Task[None] | None = None
        self.delivered_batches = 0

    @property
    def crashed(self) -> bool:
        return self.crash_reason is not None

    async def start(self) -> None:
        await self.parking.start()
        await self.consumer.start()
        await self._refresh()
        self._task = asyncio.create_task(self._run())
        log.info("event=delivery_started group=%s", self.settings.delivery_group)

    async def stop(self) -> None:
        """Stop consuming and sending; commit what is done; the rest is consumed again later."""
        self.stopping.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        for lane in self.lanes.values():
            await lane.close()
        with contextlib.suppress(Exception):
            await self._commit_done()
        await self.consumer.stop()
        await self.parking.stop()
        await self.sender.close()

    async def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                if time.monotonic() - self._refreshed >= REFRESH_SECONDS:
                    await self._refresh()
                await self._commit_done()
                if len(self._open) >= MAX_OPEN_BATCHES:
                    await wait_for_stop(self.stopping, 0.05)
                    continue
                fetched = await self.consumer.getmany(timeout_ms=200, max_records=MAX_FETCH_RECORDS)
                if fetched:
                    # The destinations as they are now: one created before these activities
                    # were consumed receives them, whatever the refresh period.
                    await self._refresh()
                    self._dispatch(fetched)
                await self._record_lag()
        except Exception as exc:  # a crash is reported by health, never silent
            log.exception("the delivery agent stopped")
            self.crash_reason = f"{type(exc).__name__}: {exc}"

    def _dispatch(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        """Hand one fetched batch's activities to the lanes of the destinations that want them.

        An activity older than the retention period is skipped: the log no longer shows it.
        """
        batch = _Batch({tp: records[-1].offset + 1 for tp, records in fetched.items()})
        self._open.append(batch)
        if not self._targets:
            return
        done = batch_done(batch)
        days = self.settings.retention_days
        # Both are `iso_utc` text, which sorts as the time does.
        oldest = iso_utc(datetime.now(UTC) - timedelta(days=days)) if days else ""
        queued: dict[Lane, list[Item]] = {}
        for records in fetched.values():
            for record in records:
                targets = self._targets.get(record.key) if record.key is not None else None
                if not targets or record.value is None:
                    continue
                for activity in read_stored(record.value):
                    if activity["occurred_at"] < oldest:
                        continue
                    for destination, lane in targets:
                        if destination.accepts(
                            activity["partner_id"],
                            activity["kind"],
                            activity["action"],
                            activity["customer_id"],
                        ):
                            queued.setdefault(lane, []).append(
                                Item(activity["event_id"], activity, done)
                            )
        for lane, items in queued.items():
            batch.open += len(items)
            lane.put_all(items)

    async def _commit_done(self) -> None:
        """Commit the offsets of the finished batches at the head, in order."""
        offsets: dict[TopicPartition, int] = {}
        while self._open and self._open[0].open == 0:
            offsets |= self._open.popleft().offsets
        if not offsets:
            return
        try:
            await self.consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
            self.delivered_batches += 1
        except Exception as exc:  # partitions moved to another agent: it consumes them again
            log.warning("event=delivery_commit_failed error=%r", str(exc))

    async def _refresh(self) -> None:
        """Read the destinations again: start, update and stop lanes to match."""
        self._refreshed = time.monotonic()
        found = await asyncio.to_thread(read_destinations, self.store)
        self.destinations = found
        current = {d.destination_id: d for d in found}
        for destination_id in list(self.lanes):
            if destination_id not in current:  # removed: nothing more goes there
                removed = self.lanes.pop(destination_id)
                await removed.close()
                removed.drop()
                await self.sender.forget(destination_id)
        for destination_id, destination in current.items():
            lane = self.lanes.get(destination_id)
            if lane is not None:
                lane.update(destination)
                continue
            secret = derive_secret(self.key, destination_id, destination.salt)
            self.lanes[destination_id] = Lane(
                destination,
                secret,
                self.sender,
                self.parking,
                self._record_state,
                self.stopping,
                batch_max=self.settings.delivery_batch_max_events,
                max_pending=self.settings.delivery_max_pending,
                failing_after=self.settings.delivery_failing_after_seconds,
                may_replay=functools.partial(self._owns, destination.partner_id),
            )
        targets: dict[bytes, list[tuple[Destination, Lane]]] = {}
        for destination_id, destination in current.items():
            if self.lanes[destination_id].replay_wanted:
                self.lanes[destination_id].wake()  # this process may hold its partition now
            if destination.state != STATE_DELETED:
                pair = (destination, self.lanes[destination_id])
                targets.setdefault(destination.partner_id.encode(), []).append(pair)
        self._targets = targets

    def _owns(self, partner_id: str) -> bool:
        """Whether this process consumes the partner's partition of the stored-activity topic."""
        partitions = self.consumer.partitions_for_topic(STORED_TOPIC)
        if not partitions:
            return False
        mine = partition_of(partner_id.encode(), len(partitions))
        return TopicPartition(STORED_TOPIC, mine) in self.consumer.assignment()

    async def _record_state(
        self, destination: Destination, state: str, reason: str
    ) -> Destination | None:
        """Record a destination's state, unless it was removed meanwhile; the row written."""

        def write() -> Destination | None:
            latest = read_destination(self.store, destination.destination_id)
            if latest is None or latest.state == STATE_DELETED:
                return None
            now = max(datetime.now(UTC), latest.updated_at + timedelta(milliseconds=1))
            changed = replace(latest, state=state, state_reason=reason, updated_at=now)
            write_destination(self.store, changed)
            return changed

        return await asyncio.to_thread(write)

    async def _record_lag(self) -> None:
        """Messages not yet consumed, per partition (best effort: never fails the agent)."""
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            try:
                position = await self.consumer.position(tp)
            except Exception:
                continue
            if highwater is not None:
                metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(highwater - position, 0))


def batch_done(batch: _Batch) -> Any:
    """The `done` of one item of `batch`: one fewer open activity."""

    def done() -> None:
        batch.open -= 1

    return done
