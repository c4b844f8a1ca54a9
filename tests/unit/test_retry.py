"""The shared backoff: doubling waits up to a cap, attempts until success, a stop ends it."""

from __future__ import annotations

import asyncio

import pytest

from common.retry import Backoff, retry, wait_for_stop


def test_the_waits_double_up_to_the_cap() -> None:
    backoff = Backoff(0.5, cap=3.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_attempts_until_success_and_reports_each_failure() -> None:
    failures: list[tuple[str, int, float]] = []
    calls = [0]

    async def attempt() -> None:
        calls[0] += 1
        if calls[0] < 3:
            raise ConnectionError(f"down {calls[0]}")

    def failed(exc: ConnectionError, attempt_no: int, delay: float) -> None:
        failures.append((str(exc), attempt_no, delay))

    attempts = asyncio.run(
        retry(
            attempt,
            retry_on=ConnectionError,
            stopping=asyncio.Event(),
            on_failure=failed,
            backoff=Backoff(0.001, cap=0.002),
        )
    )
    assert attempts == 3
    assert failures == [("down 1", 1, 0.001), ("down 2", 2, 0.002)]


def test_a_stop_during_a_wait_gives_up_and_other_errors_propagate() -> None:
    async def scenario() -> tuple[int | None, float]:
        stopping = asyncio.Event()

        async def down() -> None:
            raise ConnectionError("down")

        loop = asyncio.get_running_loop()
        started = loop.time()
        # The wait would be an hour: only the stop can end it.
        outcome = await retry(
            down,
            retry_on=ConnectionError,
            stopping=stopping,
            on_failure=lambda *_: stopping.set(),
            backoff=Backoff(3600.0),
        )
        return outcome, loop.time() - started

    outcome, seconds = asyncio.run(scenario())
    assert outcome is None and seconds < 60

    async def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        asyncio.run(
            retry(
                broken,
                retry_on=ConnectionError,
                stopping=asyncio.Event(),
                on_failure=lambda *_: None,
            )
        )


def test_wait_for_stop_says_whether_the_stop_came() -> None:
    async def scenario() -> tuple[bool, bool]:
        stopping = asyncio.Event()
        timed_out = await wait_for_stop(stopping, 0.001)
        stopping.set()
        return timed_out, await wait_for_stop(stopping, 3600.0)

    assert asyncio.run(scenario()) == (False, True)
