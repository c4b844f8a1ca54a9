"""When events happen: slot instants over the window, and their RFC 3339 text.

Timestamps are integers (microseconds since the epoch) inside the simulation;
only `Clock.format` turns one into text, in the offset its writer uses.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Final

# Office-hours intensity by UTC hour (Europe first, then the Americas), and
# a quieter weekend: traffic is not uniform, and dashboards show it.
# fmt: off
_HOURLY: Final[tuple[float, ...]] = (
    0.25, 0.2, 0.2, 0.25, 0.35, 0.55, 0.8, 1.0, 1.1, 1.15, 1.1, 1.0,
    0.95, 1.05, 1.1, 1.05, 0.95, 0.8, 0.65, 0.55, 0.5, 0.45, 0.35, 0.3,
)
# fmt: on
_WEEKEND: Final = 0.3

SECOND_US: Final = 1_000_000  # microseconds per second
_HOUR_US: Final = 3600 * SECOND_US
_DAY_US: Final = 86400 * SECOND_US
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


def _hour_weight(hour_start_us: int) -> float:
    day = hour_start_us // _DAY_US
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    weight = _HOURLY[(hour_start_us % _DAY_US) // _HOUR_US]
    return weight * _WEEKEND if weekday >= 5 else weight


def slot_times(rng: random.Random, n: int, start_us: int, end_us: int) -> Iterator[int]:
    """`n` sorted instants (µs since the epoch, whole ms) in [start_us, end_us].

    A non-homogeneous Poisson process conditioned on its count: sorted
    uniforms, drawn one at a time in increasing order (each is the minimum of
    the remaining ones, 1 - U**(1/k)), mapped through the inverse of the
    cumulative office-hours intensity. Constant memory for any `n`.
    """
    if n <= 0:
        return
    lo = -(-start_us // 1000) * 1000  # whole milliseconds inside the window
    hi = end_us // 1000 * 1000
    if lo >= hi:
        # A window with at most one whole millisecond: every event at that instant.
        at = lo if lo == hi else start_us
        for _ in range(n):
            yield at
        return
    # Hour-aligned buckets with their share of the intensity mass.
    starts: list[int] = []
    lengths: list[int] = []
    masses: list[float] = []
    t = lo
    while t < hi:
        nxt = min((t // _HOUR_US + 1) * _HOUR_US, hi)
        starts.append(t)
        lengths.append(nxt - t)
        masses.append((nxt - t) * _hour_weight(t))
        t = nxt
    total = math.fsum(masses)
    last = len(masses) - 1
    bucket = 0
    before = 0.0
    u = 0.0
    prev = lo
    random_ = rng.random
    log = math.log
    expm1 = math.expm1
    for k in range(n, 0, -1):
        u += (1.0 - u) * -expm1(log(1.0 - random_()) / k)
        target = u * total
        while bucket < last and before + masses[bucket] < target:
            before += masses[bucket]
            bucket += 1
        frac = (target - before) / masses[bucket]
        frac = 0.0 if frac < 0.0 else 1.0 if frac > 1.0 else frac
        at = starts[bucket] + int(frac * lengths[bucket])
        at -= at % 1000
        # Rounding must never reorder events nor leave the window.
        at = prev if at < prev else hi if at > hi else at
        prev = at
        yield at


class Clock:
    """RFC 3339 formatting of µs timestamps in a given offset, fast (dates cached)."""

    __slots__ = ("_days",)

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def format(self, at_us: int, offset_minutes: int, suffix: str) -> str:
        local = at_us + offset_minutes * 60 * SECOND_US
        day, rest = divmod(local, _DAY_US)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = date.fromordinal(_EPOCH_ORDINAL + day).isoformat() + "T"
            self._days[day] = prefix
        seconds, micros = divmod(rest, SECOND_US)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        if micros % 1000:
            return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}{suffix}"
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{micros // 1000:03d}{suffix}"


def to_us(moment: datetime) -> int:
    """`moment` in the simulation's time unit: microseconds since the epoch."""
    return (moment - _EPOCH) // timedelta(microseconds=1)
