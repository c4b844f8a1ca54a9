"""The bulk path for backfills: JSONL lines (or events) to Kafka with the least work per event.

A line that already carries `event_id` and `occurred_at` is validated and
sent as the very bytes it was read as (no re-serialization: what the
consumer gets is byte-for-byte what the file held); only a line missing one
of them is completed and serialized again. Decoding with orjson and then
validating the dict is faster than pydantic's own JSON parsing (measured:
about 8 us against 11 us per simulator event), and the decoded dict is
needed anyway to route the line to its topic.

Per-message overhead left is kafka-python's own; the publisher's options
(linger, big batches, lz4, the key-caching partitioner, an errback per
record) remove the rest. `tests/bench/bench_publish.py` measures it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from common.errors import InvalidEvent
from producers.publisher import ActivityPublisher, encode_event
from schemas.events import kafka_key_field, validate_event
from schemas.topics import topic_for_event

# How often (in lines) the progress callback is told how far we are.
PROGRESS_EVERY = 2048


@dataclass(frozen=True)
class BulkResult:
    """What a bulk run read: lines accepted (handed to Kafka) and rejected."""

    accepted: int
    rejected: int


def prepare_line(line: bytes, *, validate: bool = True) -> tuple[str, bytes, bytes]:
    """(topic, key, value) for one JSONL line, or `InvalidEvent` naming the field and rule.

    The topic follows the event's shape (`topic_for_event`). With `validate`
    False (input already checked, e.g. the simulator's) only the JSON is
    parsed, for the key and topic.
    """
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("", f"not valid JSON: {exc}") from exc
    return prepare_decoded(line, event, validate=validate)


def prepare_decoded(line: bytes, event: Any, *, validate: bool = True) -> tuple[str, bytes, bytes]:
    """`prepare_line` for a line its caller has already decoded into `event`."""
    if not isinstance(event, dict):
        raise InvalidEvent("", "line is not a JSON object")
    topic = topic_for_event(event)
    if not (event.get("event_id") and event.get("occurred_at")):
        key, value, _ = encode_event(topic, event)
        return topic, key, value
    if validate:
        return topic, validate_event(topic, event).kafka_key.encode(), line
    # Pre-validated input: the key's field by the contract's rule, and only its presence checked.
    field = kafka_key_field(event)
    key_value = event.get(field)
    if not isinstance(key_value, str) or not key_value:
        raise InvalidEvent(field, "is required")
    return topic, key_value.encode(), line


def publish_lines(
    publisher: ActivityPublisher | None,
    lines: Iterable[tuple[int, bytes]],
    *,
    on_rejected: Callable[[int, InvalidEvent], None] | None = None,
    progress: Callable[[int], None] | None = None,
    validate: bool = True,
) -> BulkResult:
    """Publish numbered JSONL lines; each bad one goes to `on_rejected(number, error)`.

    With `publisher` None nothing is sent (a dry run: validation only).
    `progress(lines_read)` is called every `PROGRESS_EVERY` lines and at the end.
    Delivery outcomes are in `publisher.report` once it is flushed or closed.
    """
    send = publisher.send_counted if publisher is not None else None
    accepted = rejected = read = 0
    for number, line in lines:
        read += 1
        try:
            topic, key, value = prepare_line(line, validate=validate)
            if send is not None:
                send(topic, key, value)
            accepted += 1
        except InvalidEvent as exc:
            rejected += 1
            if on_rejected is not None:
                on_rejected(number, exc)
        if progress is not None and read % PROGRESS_EVERY == 0:
            progress(read)
    if progress is not None:
        progress(read)
    return BulkResult(accepted=accepted, rejected=rejected)
