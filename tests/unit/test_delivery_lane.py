"""A destination's lane without network or broker: retries, the failing bound, parking, order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from processors.delivery.lane import Item, Lane
from processors.delivery.sender import DELIVERED, REFUSED, RETRY, Outcome, retry_after
from schemas.destinations import STATE_ACTIVE, Destination

NOW = datetime(2026, 11, 20, tzinfo=UTC)
DEST = Destination(
    "dst_" + "0" * 24, "ptn-a", "https://x.example", "", (), (), (), "s", "f", NOW, "t",
    STATE_ACTIVE, "", NOW,
)  # fmt: skip


class ScriptedSender:
    """Answers each request with the next outcome; records the event ids of each."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        self.outcomes = outcomes
        self.sent: list[list[str]] = []

    async def send(self, d: Destination, secret: str, body: bytes, ids: Sequence[str]) -> Outcome:
        self.sent.append([a["event_id"] for a in orjson.loads(body)["activities"]])
        assert list(ids) == self.sent[-1]
        return self.outcomes.pop(0) if self.outcomes else Outcome(DELIVERED)


class MemoryParking:
    def __init__(self) -> None:
        self.parked: list[str] = []

    async def park(self, destination_id: str, items: Sequence[Item], reason: str) -> bool:
        self.parked += [i.event_id for i in items]
        return True

    async def replay(
        self, destination_id: str, deliver: Callable[[list[dict[str, Any]]], Awaitable[bool]]
    ) -> bool:
        return True


async def run_lane(
    outcomes: list[Outcome],
    n: int,
    failing_after: float = 60.0,
    max_pending: int = 100,
    stagger: bool = False,
) -> dict[str, Any]:
    sender, parking, states, done = ScriptedSender(outcomes), MemoryParking(), [], []

    async def record(d: Destination, state: str, reason: str) -> None:
        states.append(state)

    stopping = asyncio.Event()
    lane = Lane(
        DEST, "secret", sender, parking, record, stopping,  # type: ignore[arg-type]
        batch_max=3, max_pending=max_pending, failing_after=failing_after,
        jitter=lambda ceiling: 0.0,
    )  # fmt: skip
    for i in range(n):
        if stagger and i == 1:
            await asyncio.sleep(0.05)  # the first request is out, its retry waiting
        lane.put(Item(f"e{i}", {"event_id": f"e{i}"}, lambda i=i: done.append(f"e{i}")))
    for _ in range(500):
        if len(done) == n:
            break
        await asyncio.sleep(0.01)
    stopping.set()
    await lane.close()
    return {"sent": sender.sent, "parked": parking.parked, "states": states, "done": done}


def test_a_retried_request_is_the_same_and_order_holds() -> None:
    got = asyncio.run(run_lane([Outcome(RETRY, "HTTP 500"), Outcome(RETRY, "HTTP 429", 0.0)], 7))
    assert got["sent"][:3] == [["e0", "e1", "e2"]] * 3
    assert got["sent"][3:] == [["e3", "e4", "e5"], ["e6"]]
    assert got["done"] == [f"e{i}" for i in range(7)] and got["parked"] == []


def test_a_refusal_parks_everything_in_order_and_marks_it_failing() -> None:
    got = asyncio.run(run_lane([Outcome(REFUSED, "HTTP 400")], 5))
    assert got["sent"] == [["e0", "e1", "e2"]]
    assert got["parked"] == [f"e{i}" for i in range(5)]
    assert got["states"] == ["failing"] and len(got["done"]) == 5


def test_after_the_bound_a_destination_is_failing() -> None:
    got = asyncio.run(run_lane([Outcome(RETRY, "timed out")] * 1000, 4, failing_after=0.05))
    assert got["parked"] == ["e0", "e1", "e2", "e3"] and got["states"] == ["failing"]


def test_retry_after_in_seconds_or_as_a_date_and_capped() -> None:
    assert retry_after("7", 0) == 7.0
    assert retry_after("999999", 0) == 3600.0
    assert retry_after("Thu, 01 Jan 1970 00:00:30 GMT", 10.0) == 20.0
    assert retry_after("soon", 0) is None and retry_after(None, 0) is None


def test_a_backlog_over_the_bound_cuts_a_long_retry_wait_and_parks() -> None:
    # The receiver asks for an hour; the backlog passes max_pending: parked at once.
    got = asyncio.run(
        run_lane([Outcome(RETRY, "HTTP 429", 3600.0)] * 10, 8, max_pending=4, stagger=True)
    )
    assert got["sent"] == [["e0"]]
    assert got["parked"] == [f"e{i}" for i in range(8)] and got["states"] == ["failing"]


def test_a_state_another_process_recorded_is_followed_and_an_older_one_ignored() -> None:
    async def run() -> dict[str, Any]:
        sender, parking = ScriptedSender([]), MemoryParking()

        async def record(d: Destination, state: str, reason: str) -> None:
            return None

        stopping, done = asyncio.Event(), []
        lane = Lane(
            DEST, "secret", sender, parking, record, stopping,  # type: ignore[arg-type]
            batch_max=3, max_pending=100, failing_after=60, jitter=lambda ceiling: 0.0,
        )  # fmt: skip
        later = DEST.updated_at + timedelta(seconds=1)
        lane.update(replace(DEST, state="failing", updated_at=later))
        lane.update(replace(DEST, state="active"))  # older than what the lane holds: ignored
        lane.put(Item("e0", {"event_id": "e0"}, lambda: done.append("e0")))
        while not done:
            await asyncio.sleep(0.01)
        lane.update(replace(DEST, state="active", updated_at=later + timedelta(seconds=1)))
        lane.put(Item("e1", {"event_id": "e1"}, lambda: done.append("e1")))
        while len(done) < 2:
            await asyncio.sleep(0.01)
        stopping.set()
        await lane.close()
        return {"sent": sender.sent, "parked": parking.parked}

    got = asyncio.run(run())
    assert got == {"sent": [["e1"]], "parked": ["e0"]}


def test_only_the_process_holding_the_partners_partition_replays_and_the_others_follow() -> None:
    class CountingParking(MemoryParking):
        replays = 0

        async def replay(
            self, destination_id: str, deliver: Callable[[list[dict[str, Any]]], Awaitable[bool]]
        ) -> bool:
            self.replays += 1
            return True

    def at(seconds: int, state: str) -> Destination:
        return replace(DEST, state=state, updated_at=DEST.updated_at + timedelta(seconds=seconds))

    async def run() -> tuple[int, list[str]]:
        owner, states, parking = {"now": False}, [], CountingParking()

        async def record(d: Destination, state: str, reason: str) -> Destination:
            states.append(state)
            return replace(d, state=state, updated_at=d.updated_at + timedelta(seconds=1))

        stopping = asyncio.Event()
        lane = Lane(
            at(1, "replaying"), "secret", ScriptedSender([]), parking, record, stopping,  # type: ignore[arg-type]
            batch_max=3, max_pending=100, failing_after=60, jitter=lambda ceiling: 0.0,
            may_replay=lambda: owner["now"],
        )  # fmt: skip
        for _ in range(20):  # no I/O anywhere: the lane's task runs until it waits for work
            await asyncio.sleep(0)
        assert parking.replays == 0 and lane.replay_wanted  # another process holds the partition
        lane.update(at(2, "active"))  # that process replayed: this lane follows, replays nothing
        assert not lane.replay_wanted
        lane.update(at(3, "replaying"))  # asked again, and this process now holds the partition
        owner["now"] = True
        lane.wake()
        for _ in range(500):
            if states:
                break
            await asyncio.sleep(0.01)
        stopping.set()
        await lane.close()
        return parking.replays, states

    assert asyncio.run(run()) == (1, ["active"])
