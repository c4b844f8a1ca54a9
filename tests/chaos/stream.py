"""The simulator's events published to Kafka at a steady rate, every delivery kept.

The chaos scenario and the soak test both need what `activitylog simulate
--rate` does (the project's simulator, paced, through `ActivityPublisher`), plus
the one thing the CLI does not hand back: which event ids Kafka acknowledged.
"Published unique events" is then the set of ids whose receipt carries an
offset, i.e. the publisher's own delivery reports, not a count of sends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from producers.publisher import ActivityPublisher, DeliveryReport, Receipt
from producers.simulate import SimulationSpec, simulate

# A window in the past and away from "now": rows the API writes about itself
# (an export's own audit event, say) can never fall inside the range we read.
WINDOW_START = datetime(2026, 1, 5, tzinfo=UTC)
WINDOW_DAYS = 20
# The read range that covers every simulated event (dates, inclusive, UTC).
READ_RANGE = {"from": "2026-01-04", "to": "2026-01-26"}


def chaos_spec(seed: int, events: int) -> SimulationSpec:
    """The simulated traffic: 5 partners, `events` exactly, in the fixed window."""
    return SimulationSpec(
        seed=seed,
        partners=5,
        customers_per_partner=60,
        start=WINDOW_START,
        end=WINDOW_START + timedelta(days=WINDOW_DAYS),
        events=events,
    )


class PacedPublisher(threading.Thread):
    """Publish `spec`'s events at `rate` per second in a background thread.

    After `join()`: `report` (the publisher's delivery report), `sent_ids`,
    `delivered_ids` (acknowledged with an offset), `receipts` (every record's
    outcome), `error` (anything that stopped the thread), `finished_at`
    (monotonic time the last answer came). `sent`, `done` and `progress()` can
    be read while it runs. `publisher_options` go to `ActivityPublisher` (a
    shorter delivery timeout, say).
    """

    def __init__(
        self,
        bootstrap: str,
        spec: SimulationSpec,
        rate: float,
        *,
        close_timeout: float = 300.0,
        events: Iterator[tuple[str, dict[str, Any]]] | None = None,
        publisher_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name="paced-publisher", daemon=True)
        self.bootstrap = bootstrap
        self.spec = spec
        self.rate = rate
        self.close_timeout = close_timeout
        self._events = events
        self._publisher_options = publisher_options or {}
        self._live: ActivityPublisher | None = None
        self.receipts: list[Receipt] = []
        self.sent = 0
        self.done = threading.Event()
        self.stop_requested = threading.Event()
        self.report: DeliveryReport | None = None
        self.sent_ids: set[str] = set()
        self.delivered_ids: set[str] = set()
        self.error: BaseException | None = None
        self.started_at = 0.0
        self.finished_at = 0.0

    def run(self) -> None:
        receipts: list[Receipt] = []
        publisher: ActivityPublisher | None = None
        try:
            publisher = ActivityPublisher(
                self.bootstrap, close_timeout=self.close_timeout, **self._publisher_options
            )
            self._live = publisher
            self.started_at = time.monotonic()
            for index, (topic, event) in enumerate(self._events or simulate(self.spec)):
                if self.stop_requested.is_set():
                    break
                # Pacing only: sleep while ahead of the schedule.
                ahead = self.started_at + index / self.rate - time.monotonic()
                if ahead > 0.002:
                    time.sleep(ahead)
                receipts.append(publisher.publish(topic, event))
                self.sent = index + 1
        except BaseException as exc:  # reported by the caller, never lost
            self.error = exc
        finally:
            if publisher is not None:
                self.report = publisher.close()
            self.receipts = receipts
            self.sent_ids = {r.event_id for r in receipts if r.event_id}
            self.delivered_ids = {
                r.event_id for r in receipts if r.event_id and r.delivery is not None
            }
            self.finished_at = time.monotonic()
            self.done.set()

    def progress(self) -> DeliveryReport | None:
        """The delivery counts so far (acknowledged, failed, pending), None before it starts."""
        if self.report is not None:
            return self.report
        return None if self._live is None else self._live.report
