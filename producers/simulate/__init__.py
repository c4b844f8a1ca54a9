"""Deterministic synthetic traffic: partners, customers, users, products, orders and actions.

`simulate(spec)` yields `(topic, event)` pairs that satisfy the v1 contracts of
docs/contracts.md, Event contracts exactly, in non-decreasing `occurred_at` order. It is a pure
generator: no Kafka, no clock, no global random state. The same spec gives
byte-identical output (`write_jsonl`), so simulated data can feed tests,
benchmarks and demos and every run can be reproduced from its seed.

Why it is shaped like this:

* The traffic is realistic on purpose. Company names come in many scripts
  and carry commas, quotes, emoji and spreadsheet-formula prefixes
  (`=`, `+`, `-`, `@`), because those are what break CSV exports and web
  pages. Orders follow a lifecycle (`placed` then `completed`, `failed` or
  `cancelled`, same `order_id` and `correlation_id`); subscriptions follow a
  coherent state machine (`subscription.create` after a completed order,
  `reactivate` only after `suspend`, nothing after `cancel`); long operations
  start `in_progress` and resolve later under the same correlation id.
* Timestamps come from a fixed number of "slots": sorted instants drawn
  from a weekday/office-hours intensity over [start, end]. Each slot carries
  exactly one event, either a follow-up that has come due (an order's
  completion, say) or a fresh action. That gives an exact event count, a
  time order by construction, and constant memory for any length of run.
* State changes (a subscription becoming suspended, a user being deleted)
  apply when the event that records them is emitted, so the output read in
  order is always consistent, whatever was scheduled before.

The package, in the order a run uses it: `spec` (what to simulate),
`catalog` (reference data), `model` (entities and follow-ups), `timeline`
(slot instants, timestamps), `draws` (the one random stream), `world`
(partners and customers), `actions` and `orders` (the events), `engine`
(the loop).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, cast

import orjson

from producers.simulate.catalog import ACTIONS, ORDER_STATUSES
from producers.simulate.engine import Simulation
from producers.simulate.model import Event
from producers.simulate.spec import SimulationSpec, sample_month

__all__ = [
    "ACTIONS",
    "ORDER_STATUSES",
    "SimulationSpec",
    "sample_month",
    "simulate",
    "write_jsonl",
]


def simulate(spec: SimulationSpec) -> Iterator[tuple[str, Event]]:
    """Yield `spec.total_events` `(topic, event)` pairs in non-decreasing `occurred_at` order.

    Every event satisfies the v1 contract of its topic; `topic` always equals
    `topic_for_event(event)`. Deterministic: it depends on `spec` only.
    """
    return Simulation(spec).run()


def write_jsonl(
    pairs: Iterable[tuple[str, Mapping[str, Any]]],
    path_or_file: str | os.PathLike[str] | IO[bytes] | IO[str],
) -> int:
    """Write the events of `pairs`, one compact JSON object per line; return how many.

    UTF-8 (non-ASCII is written as is, not escaped), `\\n` line ends, no topic
    column: `schemas.topics.topic_for_event` recovers it. A path is created or truncated; an
    open file is written to and left open (binary preferred; a text file gets
    decoded lines, for `sys.stdout`).
    """
    if isinstance(path_or_file, str | os.PathLike):
        with open(path_or_file, "wb") as f:
            return write_jsonl(pairs, f)
    text = isinstance(path_or_file, io.TextIOBase)
    out = path_or_file
    dumps = orjson.dumps
    count = 0
    chunk: list[bytes] = []
    for _topic, event in pairs:
        chunk.append(dumps(event if type(event) is dict else dict(event)))
        if len(chunk) >= 2048:
            count += _write_chunk(out, chunk, text)
            chunk = []
    if chunk:
        count += _write_chunk(out, chunk, text)
    return count


def _write_chunk(out: IO[bytes] | IO[str], chunk: list[bytes], text: bool) -> int:
    """Write many lines with one call: a write per event would dominate the cost."""
    data = b"\n".join(chunk) + b"\n"
    if text:
        cast(IO[str], out).write(data.decode("utf-8"))
    else:
        cast(IO[bytes], out).write(data)
    return len(chunk)
