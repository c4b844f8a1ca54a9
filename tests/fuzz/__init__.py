"""Shared budget and tallies of the fuzz and property suites (`make fuzz`).

Why a budget: `make test` runs every fuzz test with a small example count so
the suite stays within a minute or two on the CI's 2 cores; `make fuzz` runs
the same tests with `ACTIVITYLOG_FUZZ_SCALE` (default 1) times more examples.
Why tallies: the README's reliability section quotes how many messages were
fuzzed and how many requests were made, so each test counts what it really
did and writes it to `test-artifacts/fuzz/<name>.json` (`make fuzz` prints them).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "fuzz"


def scale() -> int:
    """How many times the CI example counts `make fuzz` asks for (tests may read the env)."""
    try:
        return max(1, int(os.environ.get("ACTIVITYLOG_FUZZ_SCALE", "1")))
    except ValueError:
        return 1


def fuzz_settings(examples: int, **overrides: Any) -> settings:
    """Hypothesis settings for `examples` (times the scale), no deadline on a shared machine.

    Deadlines are off because the CI machine is shared and a slow example is
    not a failure; the database is off so a run does not depend on the last one
    (a found failure is printed with its reproducing `@example`).
    """
    options: dict[str, Any] = {
        "max_examples": examples * scale(),
        "deadline": None,
        "database": None,
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
            HealthCheck.filter_too_much,
        ],
    }
    options.update(overrides)
    return settings(**options)


class Tally:
    """Counts of what a fuzz test did (examples, messages, requests, by outcome)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.counts: Counter[str] = Counter()
        self.started: float | None = None  # the first count, not the import, starts the clock

    def add(self, key: str, n: int = 1) -> None:
        if self.started is None:
            self.started = time.monotonic()
        self.counts[key] += n

    def write(self, **extra: Any) -> dict[str, Any]:
        """Write the figures to `test-artifacts/fuzz/<name>.json` and return them."""
        figures: dict[str, Any] = {
            "test": self.name,
            "scale": scale(),
            "seconds": round(time.monotonic() - (self.started or time.monotonic()), 1),
            **dict(sorted(self.counts.items())),
            **extra,
        }
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{self.name}.json").write_text(json.dumps(figures, indent=1) + "\n")
        print(f"fuzz figures: {json.dumps(figures)}")
        return figures
