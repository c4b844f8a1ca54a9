"""The fault plan: which faults, in which order, after which pauses, from one seed.

Pure (no I/O) so the same seed always gives the same plan, which the
scenario prints before it starts: a failing run can be replayed exactly
(`python -m tests.chaos --seed N`), up to the machine's own timing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["kill_worker", "restart_broker", "store_outage"]


@dataclass(frozen=True)
class PlannedFault:
    """One fault, injected `pause_s` seconds after the previous one has healed."""

    kind: FaultKind
    pause_s: float


def plan_faults(
    seed: int,
    *,
    kills: int,
    broker_restarts: int,
    store_outages: int,
    pause_range: tuple[float, float],
) -> list[PlannedFault]:
    """`kills` + `broker_restarts` + `store_outages` faults in a seeded random order.

    Each waits a random pause (uniform in `pause_range`) after the worker has
    resumed from the previous fault, so every fault strikes a worker that is
    storing again, at a moment nobody chose.
    """
    low, high = pause_range
    if not 0 <= low <= high:
        raise ValueError("pause_range must be (low, high) with 0 <= low <= high")
    rng = random.Random(seed)
    counts: dict[FaultKind, int] = {
        "kill_worker": kills,
        "restart_broker": broker_restarts,
        "store_outage": store_outages,
    }
    kinds = [kind for kind, n in counts.items() for _ in range(n)]
    rng.shuffle(kinds)
    return [PlannedFault(kind, round(rng.uniform(low, high), 2)) for kind in kinds]
