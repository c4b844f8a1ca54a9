"""Insert a batch into ClickHouse, retrying with bounded exponential backoff.

The retry lives inside the agent's loop body on purpose (docs/components.md): if the
body raised, Faust could commit offsets of rows never stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from common.errors import StoreUnavailable
from common.store import Store
from processors.batch import to_columns
from processors.metrics import INSERT_FAILURES, INSERT_SECONDS
from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_TABLE, ActivityRow

log = logging.getLogger(__name__)


class BatchWriter:
    """Writes each batch as exactly one columnar insert."""

    def __init__(
        self, store: Store, *, initial_backoff: float = 0.5, max_backoff: float = 30.0
    ) -> None:
        self._store = store
        self._initial = initial_backoff
        self._max = max_backoff

    async def write(self, rows: Sequence[ActivityRow], stopping: asyncio.Event) -> bool:
        """Insert `rows`; True once stored, False if asked to stop while the store was down."""
        if not rows:
            return True
        columns = to_columns(rows)
        delay = self._initial
        attempt = 1
        while True:
            started = time.perf_counter()
            try:
                await asyncio.to_thread(
                    self._store.insert_columns, ACTIVITY_TABLE, columns, ACTIVITY_COLUMN_NAMES
                )
            except StoreUnavailable as exc:
                INSERT_FAILURES.inc()
                log.warning(
                    "event=insert_failed rows=%d attempt=%d retry_in_s=%.1f error=%r",
                    len(rows),
                    attempt,
                    delay,
                    exc.message,
                )
                if await _wait(stopping, delay):
                    return False
                delay = min(delay * 2, self._max)
                attempt += 1
                continue
            INSERT_SECONDS.observe(time.perf_counter() - started)
            if attempt > 1:
                log.info("event=insert_recovered rows=%d attempts=%d", len(rows), attempt)
            return True


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `event`; True if it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
