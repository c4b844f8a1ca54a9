"""The soak's samples and the statistics its pass criteria use (pure, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One sampling instant of the soak (every 5 s by default)."""

    t_s: float  # seconds since the steady load started
    sent: int  # events handed to the publisher so far
    lag: int | None  # messages on the source topics not yet committed (None: unknown)
    rss_mb: float | None  # the serve process (worker + API + embedded store)
    cpu_s: float | None  # its user + system CPU seconds so far
    latencies_ms: tuple[float, ...]  # first-page requests made during this sample
    errors: int  # API answers that were not 200, or requests that failed
    load1: float = 0.0  # the machine's 1-minute load average (2 cores: above 2 is contention)


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100), nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, in value units per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 60.0


def last_window(samples: Sequence[Sample], seconds: float) -> list[Sample]:
    """The samples of the last `seconds` of the run."""
    if not samples:
        return []
    start = samples[-1].t_s - seconds
    return [s for s in samples if s.t_s >= start]
