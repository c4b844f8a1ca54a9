"""Retrying with exponential backoff: each wait twice the last, up to a cap, cut short by a stop.

The worker retries an insert and a dead letter until they succeed, since
acknowledging a batch before both would lose events; a stop request is the
only way out, and then the caller leaves its batch unacknowledged. The export
audit's thread uses the same waits, bounded by its own deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

E = TypeVar("E", bound=Exception)


class Backoff:
    """The waits between attempts: `initial` seconds, then doubled after each, at most `cap`."""

    def __init__(self, initial: float = 0.5, cap: float = 30.0) -> None:
        self._next = initial
        self._cap = cap

    def next(self) -> float:
        """The wait before the next attempt; the wait after it is twice as long (or the cap)."""
        delay = self._next
        self._next = min(delay * 2, self._cap)
        return delay


async def wait_for_stop(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `stopping`; True if it was set."""
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def retry(
    attempt: Callable[[], Awaitable[object]],
    *,
    retry_on: type[E],
    stopping: asyncio.Event,
    on_failure: Callable[[E, int, float], None],
    backoff: Backoff | None = None,
) -> int | None:
    """Await `attempt()` until it returns: how many attempts it took, or None if stopping.

    Each failure with a `retry_on` error is reported as `on_failure(error,
    attempt number, seconds until the next attempt)`, then waited out; other
    errors propagate. The first attempt is made even when `stopping` is set:
    only a failure gives up.
    """
    backoff = backoff or Backoff()
    attempts = 1
    while True:
        try:
            await attempt()
        except retry_on as exc:
            delay = backoff.next()
            on_failure(exc, attempts, delay)
            if await wait_for_stop(stopping, delay):
                return None
            attempts += 1
            continue
        return attempts
