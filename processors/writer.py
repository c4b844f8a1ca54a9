"""Insert a batch into ClickHouse, retrying with bounded exponential backoff.

The retry lives inside the agent's loop body on purpose (docs/components.md): if the
body raised, Faust could commit offsets of rows never stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from common.errors import StoreUnavailable
from common.retry import Backoff, retry
from processors.batch import insert_columns
from processors.metrics import INSERT_FAILURES, INSERT_SECONDS
from schemas.activity import ACTIVITY_TABLE, ActivityRow

log = logging.getLogger(__name__)


class ColumnStore(Protocol):
    """What the writer needs of `common.store.Store`."""

    def insert_columns(
        self, table: str, columns: Sequence[Sequence[Any]], column_names: Sequence[str]
    ) -> None: ...


class BatchWriter:
    """Writes each batch as exactly one columnar insert."""

    def __init__(
        self, store: ColumnStore, *, initial_backoff: float = 0.5, max_backoff: float = 30.0
    ) -> None:
        self._store = store
        self._initial = initial_backoff
        self._max = max_backoff

    async def write(self, rows: Sequence[ActivityRow], stopping: asyncio.Event) -> bool:
        """Insert `rows`; True once stored, False if asked to stop while the store was down."""
        if not rows:
            return True
        columns, names = insert_columns(rows)

        async def insert() -> None:
            started = time.perf_counter()
            await asyncio.to_thread(self._store.insert_columns, ACTIVITY_TABLE, columns, names)
            INSERT_SECONDS.observe(time.perf_counter() - started)

        def failed(exc: StoreUnavailable, attempt: int, delay: float) -> None:
            INSERT_FAILURES.inc()
            log.warning(
                "event=insert_failed rows=%d attempt=%d retry_in_s=%.1f error=%r",
                len(rows),
                attempt,
                delay,
                exc.message,
            )

        attempts = await retry(
            insert,
            retry_on=StoreUnavailable,
            stopping=stopping,
            on_failure=failed,
            backoff=Backoff(self._initial, self._max),
        )
        if attempts is None:
            return False
        if attempts > 1:
            log.info("event=insert_recovered rows=%d attempts=%d", len(rows), attempts)
        return True
