"""What a simulation run covers: `SimulationSpec`, and the demo's sample month."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, kw_only=True)
class SimulationSpec:
    """What to simulate: how many partners, customers and users, over which window.

    `start` and `end` are aware datetimes (any offset; UTC is customary) and
    bound every `occurred_at`, both inclusive. `events` is the exact number of
    events; when it is None it is derived from `events_per_day` and the length
    of the window. `order_share` is the approximate fraction of events that
    are orders: held within a few points up to about 0.45; above that the
    subscription actions each completed order brings (`subscription.create`,
    seats added) cap it near 0.5, and 1.0 means orders only, no actions.
    `failure_rate` is the chance that an action or an order fails.
    """

    seed: int
    partners: int = 3
    customers_per_partner: int = 40
    users_per_partner: int = 4
    start: datetime
    end: datetime
    events: int | None = None
    events_per_day: float = 1000.0
    order_share: float = 0.3
    failure_rate: float = 0.05

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"{name} must be an aware datetime (e.g. tzinfo=UTC)")
        if self.end < self.start:
            raise ValueError("end must not be before start")
        for name in ("partners", "customers_per_partner", "users_per_partner"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.events is not None and self.events < 0:
            raise ValueError("events must not be negative")
        if not (self.events_per_day >= 0 and math.isfinite(self.events_per_day)):
            raise ValueError("events_per_day must be a finite number >= 0")
        for name in ("order_share", "failure_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")

    @property
    def total_events(self) -> int:
        """The number of events `simulate` yields for this spec."""
        if self.events is not None:
            return self.events
        days = (self.end - self.start) / timedelta(days=1)
        return round(days * self.events_per_day)


def sample_month(seed: int = 7, end: datetime | None = None, events: int = 2000) -> SimulationSpec:
    """A spec covering the 30 days before `end`: the page's default range (docs/contracts.md, HTTP).

    `end` defaults to now, truncated to the minute; this is the only place the
    simulator reads the clock, so a demo shows "recent" activity while every
    other use stays reproducible.
    """
    if end is None:
        end = datetime.now(UTC).replace(second=0, microsecond=0)
    return SimulationSpec(seed=seed, start=end - timedelta(days=30), end=end, events=events)
