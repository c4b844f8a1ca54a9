"""The worker's pure step (decode + validate + normalize + columnar layout) vs bare JSON parsing.

Reference: `orjson.loads` of the same messages, the least any decoder must
do. Reports events/s of both and the ratio, on simulator events.

    .venv/bin/python -m tests.bench.bench_batch_step [EVENTS]
"""

from __future__ import annotations

import gc
import sys
import time
from datetime import UTC, datetime, timedelta

import orjson

from processors.batch import Consumed, process_batch, to_columns
from producers.simulate import SimulationSpec, simulate


def _messages(n: int) -> list[Consumed]:
    end = datetime(2026, 11, 1, tzinfo=UTC)
    spec = SimulationSpec(seed=11, start=end - timedelta(days=30), end=end, events=n)
    return [
        Consumed(topic, 0, i, None, orjson.dumps(event))
        for i, (topic, event) in enumerate(simulate(spec))
    ]


def _best_of(runs: int, fn: object) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main(n: int = 100_000) -> None:
    messages = _messages(n)
    now = datetime.now(UTC)

    def reference() -> None:
        for m in messages:
            orjson.loads(m.value or b"")

    def pipeline_step() -> None:
        result = process_batch(messages, now, 1_000_000)
        to_columns(result.rows)
        assert len(result.rows) == n, result.rejected[:1]

    ref = _best_of(3, reference)
    ours = _best_of(3, pipeline_step)
    print(f"batch step, {n} simulator events, best of 3 (python -m tests.bench.bench_batch_step)")
    print(f"  reference orjson.loads only : {n / ref:>10,.0f} events/s")
    print(f"  decode+validate+normalize   : {n / ours:>10,.0f} events/s ({ref / ours:.2f}x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
