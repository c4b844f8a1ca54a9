"""The delivery agent: its own consumer group on the v1 topics, one lane per destination.

Why the source topics, re-validated, and then checked against the store
(docs/architecture.md, Delivery): each consumed message goes through the
worker's own `process_batch`, so a message the worker dead-letters never
becomes an activity here either; and an activity that a destination wants is
handed to its lane only once the store shows it (its key is in
`activity_by_event`), so a destination never receives an activity that the log
does not show, not even one the worker has yet to insert.

Guarantees, as the ingest worker's: offsets are committed only for batches
whose every activity is delivered or parked, in batch order, so a kill -9
loses nothing and re-sends at most what was in flight, with the same event ids.
The ingest worker never waits for this agent, nor one lane for another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from common.destination_key import destinations_key
from common.retry import wait_for_stop
from common.settings import Settings
from common.store import Store
from processors.batch import Consumed, process_batch
from processors.delivery import metrics
from processors.delivery.lane import Item, Lane
from processors.delivery.parking import Parking
from processors.delivery.payload import activity_json
from processors.delivery.sender import Sender
from schemas.activity import ActivityRow
from schemas.destination_table import read_destination, read_destinations, write_destination
from schemas.destinations import (
    STATE_DELETED,
    Destination,
    NetworkPolicy,
    derive_secret,
    matching,
)
from schemas.tables import BY_EVENT_TABLE
from schemas.topics import SOURCE_TOPICS

log = logging.getLogger(__name__)

# How often the destinations are read again while nothing is consumed (a replay asked for);
# they are also read before each consumed batch is dispatched.
REFRESH_SECONDS: Final = 2.0
# Batches consumed but not yet committed, at most: beyond, the agent waits for its lanes.
# A batch's record is a few offsets; the activities themselves are bounded per lane
# (ACTIVITYLOG_DELIVERY_MAX_PENDING), so a hanging destination is parked long before this.
MAX_OPEN_BATCHES: Final = 10_000
_VISIBLE = (
    f"SELECT event_id, partner_id FROM {BY_EVENT_TABLE} "  # noqa: S608 - constant
    "WHERE event_id IN {ids:Array(String)}"
)


@dataclass
class _Batch:
    """A consumed batch: the offsets to commit once its `open` activities are all done."""

    offsets: dict[TopicPartition, int]
    open: int = 0


class DeliveryAgent:
    """Consumes the v1 topics in group `ACTIVITYLOG_DELIVERY_GROUP` and delivers to destinations."""

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
            *SOURCE_TOPICS,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.delivery_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(settings.kafka_session_timeout * 1000),
            heartbeat_interval_ms=int(settings.kafka_session_timeout * 1000 / 3),
        )
        self.lanes: dict[str, Lane] = {}
        self.destinations: list[Destination] = []
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
                fetched = await self.consumer.getmany(
                    timeout_ms=200, max_records=self.settings.batch_max_events
                )
                if fetched:
                    # The destinations as they are now: one created before these activities
                    # were consumed receives them, whatever the refresh period.
                    await self._refresh()
                if fetched and not await self._dispatch(fetched):
                    return
                await self._record_lag()
        except Exception as exc:  # a crash is reported by health, never silent
            log.exception("the delivery agent stopped")
            self.crash_reason = f"{type(exc).__name__}: {exc}"

    async def _dispatch(self, fetched: dict[TopicPartition, list[Any]]) -> bool:
        """Hand one fetched batch's activities to their lanes; False when stopping."""
        messages = [
            Consumed(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ()))
            for records in fetched.values()
            for r in records
        ]
        batch = _Batch({tp: records[-1].offset + 1 for tp, records in fetched.items()})
        wanted: list[tuple[ActivityRow, list[Destination]]] = []
        live = [d for d in self.destinations if d.state != STATE_DELETED]
        if live:
            now = datetime.now(UTC)
            rows = process_batch(messages, now, self.settings.max_event_bytes).rows
            wanted = [(row, found) for row in rows if (found := matching(live, row))]
        if wanted and not await self._until_stored([row for row, _ in wanted]):
            return False
        self._open.append(batch)
        for row, found in wanted:
            for destination in found:
                lane = self.lanes.get(destination.destination_id)
                if lane is None:
                    continue
                batch.open += 1
                lane.put(Item(row["event_id"], activity_json(row), batch_done(batch)))
        return True

    async def _until_stored(self, rows: Sequence[ActivityRow]) -> bool:
        """Wait until the store shows every row (the worker may not have inserted it yet).

        A row older than the retention period will never show: it is not waited for
        (nor delivered: `_drop_expired`). False when stopping first.
        """
        waiting = {(r["event_id"], r["partner_id"]) for r in rows}
        delay = 0.05
        while True:
            ids = sorted({event_id for event_id, _ in waiting})
            found = await asyncio.to_thread(self.store.query_rows, _VISIBLE, {"ids": ids})
            waiting -= {(str(e), str(p)) for e, p in found}
            waiting -= self._expired(rows, waiting)
            if not waiting:
                return True
            if await wait_for_stop(self.stopping, delay):
                return False
            delay = min(delay * 2, 2.0)

    def _expired(
        self, rows: Sequence[ActivityRow], waiting: set[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        days = self.settings.retention_days
        if not days:
            return set()
        oldest = datetime.now(UTC) - timedelta(days=days)
        return {
            (r["event_id"], r["partner_id"])
            for r in rows
            if (r["event_id"], r["partner_id"]) in waiting and r["occurred_at"] < oldest
        }

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
            )

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
