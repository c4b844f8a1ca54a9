"""One destination's queue and its single sender: in order, retried, bounded, then parked.

Each destination has a lane of its own, so a slow or dead endpoint only ever
waits on itself. A lane sends its activities in the order they were consumed, up
to `batch_max` per request, one request at a time. A request that fails with a
retryable answer is sent again, unchanged (same event ids), after an exponential
backoff with full jitter, or after the receiver's `Retry-After`. Once a lane has
kept failing for `failing_after` seconds since its last success (or the receiver
refuses the data, or its backlog passes `max_pending`), the destination is marked
failing: what it holds and everything after goes to its dead-letter topic,
until a replay re-sends those and marks it active again.

An activity is `done` once delivered or parked; only then may the source offset
that carried it be committed (processors/delivery/agent.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from common.retry import wait_for_stop
from processors.delivery import metrics
from processors.delivery.payload import request_body
from processors.delivery.sender import DELIVERED, REFUSED, Sender
from schemas.destinations import STATE_ACTIVE, STATE_FAILING, STATE_REPLAYING, Destination

log = logging.getLogger(__name__)

BACKOFF_INITIAL: Final = 0.5
BACKOFF_CAP: Final = 60.0


@dataclass(frozen=True, slots=True)
class Item:
    """One activity for one destination; `done` is called once it is delivered or parked."""

    event_id: str
    activity: dict[str, Any]
    done: Callable[[], None]


class Parking(Protocol):
    """The destinations' dead-letter topics (processors/delivery/parking.py)."""

    async def park(self, destination_id: str, items: Sequence[Item], reason: str) -> bool:
        """Return once the broker has them all (retrying); False if stopping first."""

    async def replay(
        self, destination_id: str, deliver: Callable[[list[dict[str, Any]]], Awaitable[bool]]
    ) -> bool:
        """Hand the parked activities to `deliver` in order, a request's worth at a time;
        committed as delivered. True once every parked one was delivered."""


# Records a destination's new state in the store; the row written (None: it was removed).
StateWriter = Callable[[Destination, str, str], Awaitable[Destination | None]]


class Lane:
    """A destination's queue and sender task."""

    def __init__(
        self,
        destination: Destination,
        secret: str,
        sender: Sender,
        parking: Parking,
        record_state: StateWriter,
        stopping: asyncio.Event,
        *,
        batch_max: int,
        max_pending: int,
        failing_after: float,
        jitter: Callable[[float], float] = lambda ceiling: random.uniform(0, ceiling),
        may_replay: Callable[[], bool] = lambda: True,
    ) -> None:
        self.destination = destination
        self.secret = secret
        self.sender = sender
        self.parking = parking
        self.record_state = record_state
        self.stopping = stopping
        self.batch_max = batch_max
        self.max_pending = max_pending
        self.failing_after = failing_after
        self.jitter = jitter
        self.queue: deque[Item] = deque()
        self.failing = destination.state == STATE_FAILING
        self.replay_wanted = destination.state == STATE_REPLAYING
        # Whether this process replays the destination: the one consuming its partner's
        # partition of the stored-activity topic (processors/delivery/agent.py), so that with
        # several processes one replay runs, not one per process.
        self.may_replay = may_replay
        self._replaying = False
        self.failing_since: float | None = None
        self._wake = asyncio.Event()
        self._overflow = asyncio.Event()
        self.task: asyncio.Task[None] = asyncio.create_task(self._run())
        self._labels = (destination.destination_id, destination.partner_id)
        metrics.FAILING.labels(*self._labels).set(1 if self.failing else 0)

    @property
    def pending(self) -> int:
        return len(self.queue)

    def put(self, item: Item) -> None:
        """Queue one activity; never waits (a full queue turns the destination failing)."""
        self.put_all((item,))

    def put_all(self, items: Sequence[Item]) -> None:
        """Queue activities in order; never waits (a full queue turns the destination failing)."""
        self.queue.extend(items)
        metrics.PENDING.labels(*self._labels).set(len(self.queue))
        if len(self.queue) > self.max_pending:
            self._overflow.set()  # cuts a retry's wait short: the destination is parked
        self._wake.set()

    def update(self, destination: Destination) -> None:
        """The destination as the store now says: a replay asked for, or a state that another
        `deliver` process recorded (failing, or active after its replay).

        A row older than the one this lane last wrote is a read that raced that write,
        and is ignored; only a newer row changes the lane's state.
        """
        if destination.updated_at <= self.destination.updated_at:
            return
        self.destination = destination
        if destination.state == STATE_REPLAYING:
            if not self.replay_wanted:
                self.replay_wanted = True
                self._wake.set()
        elif self._replaying:
            return  # this lane's replay decides what comes next
        else:
            self.replay_wanted = False  # done, or called off, by the process that replayed
        if destination.state == STATE_FAILING and not self.failing:
            self.failing = True
            metrics.FAILING.labels(*self._labels).set(1)
            self._wake.set()
        elif destination.state == STATE_ACTIVE and self.failing:
            self.failing = False
            metrics.FAILING.labels(*self._labels).set(0)
            self._wake.set()

    def wake(self) -> None:
        """Look again at what is wanted (a replay this process may now run)."""
        self._wake.set()

    async def close(self) -> None:
        """Stop the lane; what it still holds stays undone (not committed)."""
        self.task.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, Exception):
            log.debug("lane %s closed", self.destination.destination_id, exc_info=True)

    def drop(self) -> None:
        """The destination was removed: nothing it holds will ever be delivered."""
        while self.queue:
            self.queue.popleft().done()

    async def _run(self) -> None:
        while not self.stopping.is_set():
            if self.replay_wanted and self.may_replay():
                if not await self._replay():
                    return
                continue
            if not self.queue:
                self._wake.clear()
                if await self._idle():
                    return
                continue
            if not self.failing and self._overflowing():
                await self._fail(f"more than {self.max_pending} activities waiting")
            chunk = [self.queue[i] for i in range(min(self.batch_max, len(self.queue)))]
            if self.failing:
                if not await self.parking.park(self.destination.destination_id, chunk, "failing"):
                    return
                metrics.PARKED.labels(*self._labels).inc(len(chunk))
            else:
                delivered = await self._deliver([i.activity for i in chunk])
                if delivered is None:
                    return
                if not delivered:
                    continue  # now failing: the same chunk goes to the dead-letter topic
            for _ in chunk:
                self.queue.popleft().done()
            metrics.PENDING.labels(*self._labels).set(len(self.queue))

    async def _idle(self) -> bool:
        """Wait for work; True when stopping."""
        waiter = asyncio.ensure_future(self._wake.wait())
        stopper = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, stopper):
            task.cancel()
        return self.stopping.is_set()

    async def _deliver(self, activities: list[dict[str, Any]]) -> bool | None:
        """Send one request until delivered (True), failing (False) or stopping (None)."""
        body = request_body(self.destination.destination_id, activities)
        ids = [a["event_id"] for a in activities]
        attempt = 0
        while True:
            if attempt and self._overflowing():
                await self._fail(f"more than {self.max_pending} activities waiting")
                return False
            outcome = await self.sender.send(self.destination, self.secret, body, ids)
            if outcome.kind == DELIVERED:
                self.failing_since = None
                metrics.DELIVERED.labels(*self._labels).inc(len(activities))
                metrics.RETRYING.labels(*self._labels).set(0)
                metrics.LAST_SUCCESS.labels(*self._labels).set(time.time())
                return True
            metrics.FAILED_REQUESTS.labels(*self._labels).inc()
            if outcome.kind == REFUSED:
                await self._fail(outcome.reason)
                return False
            now = time.monotonic()
            if self.failing_since is None:
                self.failing_since = now
            left = self.failing_after - (now - self.failing_since)
            if left <= 0:
                await self._fail(f"still failing after {self.failing_after:g} s: {outcome.reason}")
                return False
            metrics.RETRYING.labels(*self._labels).set(len(activities))
            ceiling = min(BACKOFF_CAP, BACKOFF_INITIAL * 2**attempt)
            delay = outcome.retry_after if outcome.retry_after is not None else self.jitter(ceiling)
            attempt += 1
            log.warning(
                "event=delivery_retry destination=%s events=%d reason=%r retry_in_s=%.2f",
                self.destination.destination_id,
                len(activities),
                outcome.reason,
                min(delay, left),
            )
            if await self._pause(min(delay, left)):
                return None

    def _overflowing(self) -> bool:
        if len(self.queue) <= self.max_pending:
            self._overflow.clear()
            return False
        return True

    async def _pause(self, seconds: float) -> bool:
        """Wait out a retry's delay, cut short by an overflow; True when stopping."""
        overflow = asyncio.ensure_future(self._overflow.wait())
        try:
            if await wait_for_stop(self.stopping, 0) or self._overflow.is_set():
                return self.stopping.is_set()
            stop = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait(
                {overflow, stop}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
            stop.cancel()
            return self.stopping.is_set()
        finally:
            overflow.cancel()

    async def _fail(self, reason: str) -> None:
        self.failing = True
        self.failing_since = None
        metrics.RETRYING.labels(*self._labels).set(0)
        metrics.FAILING.labels(*self._labels).set(1)
        log.error(
            "event=destination_failing destination=%s reason=%r: its activities are parked on "
            "its dead-letter topic until `activitylog destinations replay`",
            self.destination.destination_id,
            reason,
        )
        written = await self.record_state(self.destination, STATE_FAILING, reason)
        self.destination = written or replace(
            self.destination, state=STATE_FAILING, state_reason=reason
        )

    async def _replay(self) -> bool:
        """Re-send the parked activities, then go active; False when stopping."""
        log.info("event=replay_started destination=%s", self.destination.destination_id)
        was_failing, self.failing = self.failing, False

        async def deliver(activities: list[dict[str, Any]]) -> bool:
            delivered = await self._deliver(activities)
            if delivered is None:
                raise asyncio.CancelledError  # stopping: the replay resumes after the restart
            return delivered

        self._replaying = True
        try:
            complete = await self.parking.replay(self.destination.destination_id, deliver)
        except asyncio.CancelledError:
            self.failing = was_failing
            return False
        finally:
            self._replaying = False
        self.replay_wanted = False
        if complete:
            metrics.FAILING.labels(*self._labels).set(0)
            written = await self.record_state(self.destination, STATE_ACTIVE, "")
            self.destination = written or replace(
                self.destination, state=STATE_ACTIVE, state_reason=""
            )
            log.info("event=replay_done destination=%s", self.destination.destination_id)
        return True
